"""The README stays true: every setting the code reads is documented, and the two commands are there."""

import re

from local.template import REPO_ROOT

CONFIG = (REPO_ROOT / "shared" / "voipbin_ai" / "config.py").read_text(encoding="utf-8")
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_variable_the_settings_read_is_documented() -> None:
    read = set(re.findall(r'alias="([A-Z0-9_]+)"', CONFIG)) | set(re.findall(r'environ\.get\("([A-Z0-9_]+)"', CONFIG))
    read |= {name for pair in re.findall(r'_secret\("([A-Z0-9_]+)", "([A-Z0-9_]+)"\)', CONFIG) for name in pair}
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", README, flags=re.MULTILINE))

    assert read, "the pattern no longer finds the settings in config.py"
    assert read - documented == set()


def test_the_two_commands_are_shown() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_operating_it_names_every_alarm_and_only_what_the_template_has() -> None:
    from local.template import parsed_template

    section = README.split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]
    template = parsed_template()
    resources = template["Resources"]
    alarms = {name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    log_groups = {
        resource["Properties"]["LogGroupName"]["Fn::Sub"].replace("${AWS::StackName}", "$STACK")
        for resource in resources.values()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    (function_names,) = re.findall(r"\(`<Name>`: ([\w, ]+)\)", section)

    assert alarms <= set(re.findall(r"\| `(\w+Alarm)` \|", section))
    assert set(re.findall(r"`(\w+Threshold)`", section)) <= set(template["Parameters"])
    # The shell helpers: $(out <Output>), $(res <LogicalId>).
    assert set(re.findall(r"(?:\$\(|`)out (\w+)", section)) <= set(template["Outputs"])
    assert set(re.findall(r"\$\(res (\w+)\)", section)) <= set(resources)
    assert set(re.findall(r"/aws/[a-z]+/\$STACK/\w+", section)) <= log_groups
    assert {f"/aws/lambda/$STACK/{name}" for name in function_names.split(", ")} == {
        group for group in log_groups if group.startswith("/aws/lambda/")
    }
