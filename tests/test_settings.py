"""Settings by name: one stage's field, ``stage__field``, and ambiguous names refused."""

from __future__ import annotations

import pytest

from dedup.errors import SettingsError
from dedup.pipeline import Settings


def test_a_bare_name_sets_its_one_stage() -> None:
    settings = Settings().with_overrides(whole_coverage=0.7, group_wire_versions=False)
    assert settings.origin.whole_coverage == 0.7
    assert settings.group_wire_versions is False
    assert Settings().origin.whole_coverage != 0.7


def test_a_name_two_stages_share_needs_its_stage() -> None:
    with pytest.raises(SettingsError, match="candidates__sentence_threshold or align__sentence_threshold"):
        Settings().with_overrides(sentence_threshold=0.5)
    settings = Settings().with_overrides(align__sentence_threshold=0.5)
    assert settings.align.sentence_threshold == 0.5
    assert settings.candidates.sentence_threshold == Settings().candidates.sentence_threshold


@pytest.mark.parametrize("name", ["no_such_setting", "align__no_such_field", "nowhere__sentence_threshold"])
def test_unknown_names_are_refused(name: str) -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings().with_overrides(**{name: 1})
