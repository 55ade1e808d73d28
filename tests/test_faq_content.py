"""The guides are checked when they load: a mistake stops start-up and names the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.faq import ACTIONS, GuideError, load_guides

GUIDES = Path(__file__).resolve().parent.parent / "content" / "guides"

GOOD_ENTRY = """
  - id: {id}
    section: {{ar: "قسم", en: "Section"}}
    questions:
      ar: ["متى الرد؟"]
      en: ["When is the answer?"]
    answer:
      ar: "خلال مدة لا تقل عن أسبوعين."
      en: "Within not less than two weeks."
"""


def write_guide(directory: Path, name: str, entries: str, guide: str | None = None) -> Path:
    path = directory / name
    path.write_text(
        f'guide: {guide or path.stem}\ntitle: {{ar: "دليل", en: "Guide"}}\nentries:\n{entries}',
        encoding="utf-8",
    )
    return path


def assert_load_fails(directory: Path, file: str, entry: str | None, words: str) -> None:
    with pytest.raises(GuideError) as caught:
        load_guides(directory)
    message = str(caught.value)
    assert file in message
    if entry:
        assert entry in message
    assert words in message


def test_a_valid_guide_loads(tmp_path):
    write_guide(tmp_path, "one.yaml", GOOD_ENTRY.format(id="timeline"))
    [entry] = load_guides(tmp_path)
    assert entry.id == "timeline" and entry.guide == "one" and entry.file == "one.yaml"
    assert entry.questions["ar"] == ["متى الرد؟"]
    assert entry.action is None and entry.sample is False


def test_duplicate_id_in_one_file(tmp_path):
    write_guide(tmp_path, "one.yaml", GOOD_ENTRY.format(id="timeline") + GOOD_ENTRY.format(id="timeline"))
    assert_load_fails(tmp_path, "one.yaml", "timeline", "duplicate")


def test_duplicate_id_across_files_names_both(tmp_path):
    write_guide(tmp_path, "a.yaml", GOOD_ENTRY.format(id="timeline"))
    write_guide(tmp_path, "b.yaml", GOOD_ENTRY.format(id="timeline"))
    assert_load_fails(tmp_path, "b.yaml", "timeline", "a.yaml")


def test_missing_language_in_answer(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline").replace('      en: "Within not less than two weeks."\n', "")
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "'en'")


def test_missing_language_in_questions(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline").replace('      ar: ["متى الرد؟"]\n', "")
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "'ar'")


def test_empty_answer(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline").replace('"خلال مدة لا تقل عن أسبوعين."', '"  "')
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "empty")


def test_unknown_action(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline") + "    action: teleport\n"
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "teleport")


def test_missing_questions(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline")
    entry = entry.replace('    questions:\n      ar: ["متى الرد؟"]\n      en: ["When is the answer?"]\n', "")
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "questions")


def test_empty_question_list(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline").replace('ar: ["متى الرد؟"]', "ar: []")
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "no question")


def test_misspelt_key_is_not_silently_ignored(tmp_path):
    entry = GOOD_ENTRY.format(id="timeline").replace("    answer:", "    anwser:")
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "timeline", "anwser")


def test_entry_without_id_is_named_by_position(tmp_path):
    nameless = GOOD_ENTRY.format(id="x").replace("  - id: x\n    section:", "  - section:")
    entry = GOOD_ENTRY.format(id="first") + nameless
    write_guide(tmp_path, "one.yaml", entry)
    assert_load_fails(tmp_path, "one.yaml", "#2", "'id'")


def test_broken_yaml_names_the_file(tmp_path):
    (tmp_path / "broken.yaml").write_text("guide: x\nentries: [\n", encoding="utf-8")
    assert_load_fails(tmp_path, "broken.yaml", None, "YAML")


def test_empty_directory_fails(tmp_path):
    with pytest.raises(GuideError):
        load_guides(tmp_path)


def test_the_real_guides_load_cleanly():
    loaded = load_guides(GUIDES)
    entries = [e for e in loaded if e.covered]
    assert 40 <= len(entries) <= 60
    topics = [e for e in loaded if not e.covered]  # content/guides/not_covered.yaml
    assert len(topics) >= 30 and all(e.guide == "not_covered" and e.action is None for e in topics)
    assert {e.guide for e in entries} == {
        "beneficiary_relations",
        "bylaws",
        "social_research",
        "support_policy",
        "support_request_form",
    }
    assert all(e.action is None or e.action in ACTIONS for e in entries)


def test_every_real_entry_has_several_phrasings_in_both_languages():
    for entry in load_guides(GUIDES):
        assert len(entry.questions["ar"]) >= 3, entry.id
        assert len(entry.questions["en"]) >= 2, entry.id


def test_sample_entries_say_so_in_both_languages():
    samples = [e for e in load_guides(GUIDES) if e.sample]
    assert samples
    for entry in samples:
        assert "نص مثال مؤقت" in entry.answer["ar"], entry.id
        assert "Sample text" in entry.answer["en"], entry.id


def test_real_entries_are_not_marked_as_samples():
    for entry in load_guides(GUIDES):
        if not entry.sample:
            assert "مثال مؤقت" not in entry.answer["ar"] and "Sample text" not in entry.answer["en"], entry.id


def test_the_policy_facts_are_in_the_guides():
    by_id = {e.id: e for e in load_guides(GUIDES)}
    timeline = by_id["committee-timeline"]
    assert "لا تقل عن أسبوعين" in timeline.answer["ar"]
    assert "not less than two weeks" in timeline.answer["en"]
    assert timeline.action == "status" and not timeline.sample
    assert by_id["social-researcher-referral"].action == "human"
    assert "لا للعقاب" in by_id["satisfaction-rating"].answer["ar"]
    assert "مسؤولية مباشرة" in by_id["data-declaration"].answer["ar"]
    assert "لجنة البحث" in by_id["who-decides"].answer["ar"]
