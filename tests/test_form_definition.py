"""The form definition is checked at start: a mistake names the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.app import both_languages_have
from flows.form import FormDefinitionError, load_form

ROOT = Path(__file__).resolve().parent.parent
FORM = ROOT / "content" / "forms" / "support_request.yaml"


def _broken(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(FORM.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "support_request.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_form_is_valid():
    form = load_form(FORM, has_key=both_languages_have)
    assert [f.name for f in form.fields][:3] == ["full_name", "national_id", "mobile"]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["fields"][2].update(validator="phone_sa"),
            "field 'mobile': unknown validator 'phone_sa'",
        ),
        (lambda d: d["fields"][3].update(kind="dropdown"), "field 'city': unknown kind 'dropdown'"),
        (lambda d: d["fields"][1].pop("prompt"), "field 'national_id': missing prompt"),
        (
            lambda d: d["fields"][4].update(required="yes"),
            "field 'family_members': 'required' must be true or false",
        ),
        (lambda d: d["fields"][5].update(name="full_name"), "field 'full_name': the name is used twice"),
        (
            lambda d: d["fields"][0].update(prompt="form.nope.prompt"),
            "field 'full_name': message key 'form.nope.prompt'",
        ),
        (lambda d: d["fields"][7].update(choices=[]), "field 'support_type': a choice field needs"),
        (
            lambda d: d["fields"][9].update(validator="full_name"),
            "field 'id_photo': validator 'full_name' does not fit",
        ),
        (
            lambda d: d["fields"][8].update(validator="id_photo"),
            "field 'description': validator 'id_photo' does not fit",
        ),
        (lambda d: d.pop("declaration"), "'declaration' needs a version"),
        (lambda d: d.update(fields=[]), "non-empty 'fields'"),
    ],
)
def test_each_mistake_is_reported_naming_the_field(tmp_path, change, message):
    with pytest.raises(FormDefinitionError) as error:
        load_form(_broken(tmp_path, change), has_key=both_languages_have)
    assert message in str(error.value)


def test_a_bad_form_stops_start_up_with_one_clear_line(tmp_path):
    content = tmp_path / "content"
    (content / "forms").mkdir(parents=True)
    broken = _broken(tmp_path, lambda d: d["fields"][2].update(validator="phone_sa"))
    (content / "forms" / "support_request.yaml").write_text(
        broken.read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="",
        capture_output=True,
        text=True,
        env={
            "BOT_CONTENT_DIR": str(content),
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "PATH": "/usr/bin:/bin",
            "BOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        },
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "field 'mobile': unknown validator 'phone_sa'" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
