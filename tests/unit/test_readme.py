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
