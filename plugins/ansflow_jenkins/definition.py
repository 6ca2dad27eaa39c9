"""A pipeline's steps as a Jenkins pipeline job (config.xml with a declarative
Jenkinsfile): one ``stage`` per step, in order, running the step's command with
``sh``; the step's variables in the stage's ``environment``; the execution's
parameters and AnsFlow's dispatch token as string parameters of the job.

Steps sharing a parallel group become consecutive stages (their order is kept):
parallel stages would interleave their output in the one console log, and the log is
how lines are attributed to steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from ansflow_pyramid.execution.specs import StepSpec

TOKEN_PARAMETER = "ANSFLOW_RUN_TOKEN"


def groovy_single(text: str) -> str:
    """``text`` inside a Groovy '...' or '''...''' string (no interpolation)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def jenkinsfile(steps: Iterable[StepSpec]) -> str:
    lines = ["pipeline {", "    agent any", "    stages {"]
    for step in steps:
        lines.append(f"        stage('{groovy_single(step.name)}') {{")
        if step.environment_vars:
            lines.append("            environment {")
            for key, value in step.environment_vars.items():
                if str(key).isidentifier():
                    lines.append(f"                {key} = '{groovy_single(str(value))}'")
            lines.append("            }")
        if step.timeout_seconds:
            lines.append(
                f"            options {{ timeout(time: {max(1, int(step.timeout_seconds))}, unit: 'SECONDS') }}"
            )
        lines.append("            steps {")
        lines.append(f"                sh '''{groovy_single(step.command or 'true')}'''")
        lines.append("            }")
        lines.append("        }")
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def config_xml(description: str, steps: Iterable[StepSpec], parameters: Iterable[str]) -> str:
    names = [TOKEN_PARAMETER, *sorted({str(p) for p in parameters} - {TOKEN_PARAMETER})]
    definitions = "".join(
        "<hudson.model.StringParameterDefinition>"
        f"<name>{escape(name)}</name><defaultValue></defaultValue>"
        "<trim>false</trim></hudson.model.StringParameterDefinition>"
        for name in names
    )
    return (
        "<?xml version='1.1' encoding='UTF-8'?>\n"
        '<flow-definition plugin="workflow-job">\n'
        f"  <description>{escape(description)}</description>\n"
        "  <keepDependencies>false</keepDependencies>\n"
        "  <properties>\n"
        "    <hudson.model.ParametersDefinitionProperty>\n"
        f"      <parameterDefinitions>{definitions}</parameterDefinitions>\n"
        "    </hudson.model.ParametersDefinitionProperty>\n"
        "  </properties>\n"
        '  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">\n'
        f"    <script>{escape(jenkinsfile(steps))}</script>\n"
        "    <sandbox>true</sandbox>\n"
        "  </definition>\n"
        "  <disabled>false</disabled>\n"
        "</flow-definition>\n"
    )
