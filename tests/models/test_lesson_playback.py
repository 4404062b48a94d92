"""Which lessons a provider's calls can play: one rule for lesson campaigns and call backs."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from models import Lesson, LessonCategory, utcnow
from models.lesson import CampaignError, LessonPlayback, VoiceFileState, create_campaign
from tests.factories import make_member, make_tree


def _lesson(session: Session, org_id: int, state: VoiceFileState | None = None) -> Lesson:
    lesson = Lesson(
        org_id=org_id,
        title="劳动合同法要点",
        category=LessonCategory.POLICY,
        transcript="劳动合同要写清工资。",
        duration=300,
        voice_code="VOICE_1" if state else None,
        voice_state=state,
    )
    session.add(lesson)
    session.flush()
    return lesson


def test_each_playback_refuses_what_its_calls_cannot_play(session: Session) -> None:
    township, _, _ = make_tree(session)
    plain = _lesson(session, township.id)
    in_review = _lesson(session, township.id, VoiceFileState.IN_REVIEW)
    approved = _lesson(session, township.id, VoiceFileState.APPROVED)

    assert [lesson.unplayable(LessonPlayback.ANY) for lesson in (plain, approved)] == [None] * 2
    assert approved.unplayable(LessonPlayback.APPROVED_FILE) is None
    for lesson in (plain, in_review):
        refusal = lesson.unplayable(LessonPlayback.APPROVED_FILE)
        assert refusal is not None and "审核" in refusal[0]
    for lesson in (plain, approved):
        refusal = lesson.unplayable(LessonPlayback.NONE)
        assert refusal is not None and "模板语音" in refusal[0]


def test_a_campaign_of_a_lesson_the_calls_cannot_play_is_refused(session: Session) -> None:
    township, branch, _ = make_tree(session)
    make_member(session, branch)
    approved = _lesson(session, township.id, VoiceFileState.APPROVED)
    with pytest.raises(CampaignError, match="模板语音"):
        create_campaign(
            session,
            lesson_id=approved.id,
            org=township,
            author_id=None,
            target={},
            now=utcnow(),
            playback=LessonPlayback.NONE,
        )
    campaign = create_campaign(
        session,
        lesson_id=approved.id,
        org=township,
        author_id=None,
        target={},
        now=utcnow(),
        playback=LessonPlayback.APPROVED_FILE,
    )
    assert campaign.lesson_id == approved.id
