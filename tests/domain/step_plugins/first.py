def includeme(config):
    config.add_step_type("terraform")
