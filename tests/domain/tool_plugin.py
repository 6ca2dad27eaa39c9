"""A third-party plugin adding a CI tool type, as an integration plugin would."""

from ansflow_cicd.tooltypes import CheckResult


def check(connection, timeout):
    return CheckResult("authenticated", "TeamCity says hello")


def includeme(config):
    config.include("ansflow_cicd")
    config.add_tool_type("teamcity", label="TeamCity", check=check)
