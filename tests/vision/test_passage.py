"""Passages from sequences of per-frame reads: one per car, voted text, direction, confirmation and upgrades."""

from __future__ import annotations

from vision.passage import Passage, PassageSettings, PassageTracker, edit_distance, vote
from vision.plates import PlateRead

FPS = 5.0


def read(text: str, conf: float = 0.95, x: int = 300, y: int = 100, w: int = 100, color: str = "blue") -> PlateRead:
    return PlateRead(text, color, conf, (x, y, w, w // 3))


def play(tracker: PassageTracker, frames: list[list[PlateRead]], t0: float = 0.0,
         tail_s: float = 5.0) -> list[tuple[float, Passage]]:
    """Feed one frame every 1/FPS s, then empty frames for tail_s; every passage with the time it was decided."""
    out: list[tuple[float, Passage]] = []
    t = t0
    for reads in frames:
        out += [(t, p) for p in tracker.observe(reads, t)]
        t += 1 / FPS
    end = t + tail_s
    while t < end:
        out += [(t, p) for p in tracker.tick(t)]
        t += 1 / FPS
    return out


def approaching(text: str, n: int = 10, dy: int = 15, **kw) -> list[list[PlateRead]]:
    """A car driving down the picture (towards a camera above the lane): its plate moves down and grows."""
    return [[read(text, y=100 + i * dy, w=90 + i * 3, **kw)] for i in range(n)]


def stages(decided: list[tuple[float, Passage]], stage: str) -> list[Passage]:
    return [p for _, p in decided if p.stage == stage]


def test_one_car_over_many_frames_with_a_misread_is_one_passage_with_the_voted_plate():
    frames = approaching("湘A12345", conf=0.93)
    frames[3] = [read("湘A12845", conf=0.97, y=145)]  # one frame misread one character, very sure of it
    frames[6] = [read("湘A12345", conf=0.98, y=190)]  # the best crop
    decided = play(PassageTracker(), frames)
    assert [p.stage for _, p in decided] == ["confirmed", "ended"]
    (p,) = stages(decided, "ended")
    assert (p.plate, p.color, p.direction) == ("湘A12345", "blue", "entry")
    assert p.confidence == 0.98 and p.box == (300, 190, 100, 33)  # the best read of the voted text, not the misread
    assert (p.reads, p.agreeing) == (10, 9)
    assert p.first_t == 0.0 and abs(p.duration_s - 1.8) < 1e-9


def test_a_sure_moving_car_is_confirmed_early_not_when_it_has_gone():
    decided = play(PassageTracker(), approaching("湘A12345", n=20))
    (t, p), = [(t, p) for t, p in decided if p.stage == "confirmed"]
    assert t < 1.0  # within the first frames, while the car is still coming (the gate opens in time)
    assert p.direction == "entry"
    assert [t for t, p in decided if p.stage == "ended"][0] > 5.0  # the summary when it has gone


def test_direction_up_is_exit_for_a_camera_whose_entering_cars_move_down():
    frames = [[read("粤B3X7Q2", y=400 - i * 20)] for i in range(10)]
    (p,) = stages(play(PassageTracker(PassageSettings(inbound="down")), frames), "ended")
    assert p.direction == "exit"
    (p,) = stages(play(PassageTracker(PassageSettings(inbound="up")), frames), "ended")
    assert p.direction == "entry"


def test_sideways_and_growing_boxes():
    right = [[read("京N8P8F8", x=100 + i * 30)] for i in range(8)]
    (p,) = stages(play(PassageTracker(PassageSettings(inbound="left")), right), "ended")
    assert p.direction == "exit"
    growing = [[read("京N8P8F8", w=60 + i * 8)] for i in range(8)]
    (p,) = stages(play(PassageTracker(PassageSettings(inbound="closer")), growing), "ended")
    assert p.direction == "entry"
    (p,) = stages(play(PassageTracker(PassageSettings(inbound="farther")), growing), "ended")
    assert p.direction == "exit"


def test_a_car_standing_still_is_confirmed_after_settling_with_unknown_direction():
    frames = [[read("湘A12345")] for _ in range(30)]
    decided = play(PassageTracker(PassageSettings(settle_s=2.0)), frames)
    (t, p), = [(t, p) for t, p in decided if p.stage == "confirmed"]
    assert 1.9 <= t <= 2.3 and p.direction == "unknown"


def test_two_cars_in_the_same_frames_are_two_passages():
    frames = [[read("湘A12345", x=100, y=100 + i * 15), read("湘B67890", x=600, y=400 - i * 15)] for i in range(10)]
    decided = play(PassageTracker(), frames)
    passages = sorted((p.plate, p.direction) for p in stages(decided, "ended"))
    assert passages == [("湘A12345", "entry"), ("湘B67890", "exit")]
    tracks = {(p.plate, p.track) for _, p in decided}  # each car keeps its number through its stages
    assert len(tracks) == 2 and len({t for _, t in tracks}) == 2


def test_plates_one_character_apart_far_from_each_other_are_two_cars():
    frames = [[read("湘A12345", x=100), read("湘A12346", x=900)] for _ in range(4)]
    assert len(stages(play(PassageTracker(), frames), "confirmed")) == 2


def test_poor_first_reads_of_a_distant_plate_do_not_make_a_second_car():
    # what the reader said of a visitor's plate coming in on the demo clip (early models), one frame each 0.2 s
    said = [("皖B7Q2X5", 0.43, 101, 80), ("粤B7Q2A5", 0.72, 113, 86), ("粤B7Q2X5", 0.31, 116, 90), None,
            ("粤B792A5", 0.31, 125, 98), ("粤B7Q2X5", 0.86, 130, 100), ("粤B7Q2X5", 0.61, 135, 100),
            ("粤B7Q2X5", 0.48, 135, 100), ("皖B7Q2A5", 0.34, 135, 102)]
    frames = [[read(t, conf=c, x=275, y=y, w=w)] if t else [] for t, c, y, w in (x or (None, 0, 0, 0) for x in said)]
    decided = play(PassageTracker(), frames)
    assert [(p.stage, p.plate) for _, p in decided] == [("confirmed", "粤B7Q2X5"), ("ended", "粤B7Q2X5")]
    assert decided[-1][1].reads == 8 and decided[-1][1].confidence == 0.86


def test_plates_two_characters_apart_are_one_car_only_when_in_the_same_place():
    near = [[read("湘A12345", x=300)], [read("湘A17395", x=320)], [read("湘A12345", x=340)]]
    assert len(stages(play(PassageTracker(), near), "ended")) == 1
    far = [[read("湘A12345", x=100), read("湘A17395", x=400)] for _ in range(3)]
    assert len(stages(play(PassageTracker(), far), "ended")) == 2


def test_a_single_stray_read_is_not_a_car():
    assert play(PassageTracker(), [[read("湘A12345")], [], [], []]) == []
    decided = play(PassageTracker(PassageSettings(min_reads=1)), [[read("湘A12345")], [], [], []])
    assert [p.stage for _, p in decided] == ["confirmed", "ended"]


def test_the_same_car_lost_for_a_moment_is_still_one_passage_and_later_another():
    tracker = PassageTracker(PassageSettings(same_plate_s=15.0))
    first = play(tracker, approaching("湘A12345"), t0=0.0, tail_s=3.0)  # ends after 2 s without reads
    again = play(tracker, [[read("湘A12345", y=250)] for _ in range(5)], t0=6.0)  # the same car, 4 s later
    later = play(tracker, approaching("湘A12345"), t0=60.0)  # it comes back an hour later (or a minute)
    assert (len(first), len(again), len(later)) == (2, 0, 2)  # confirmed and ended; nothing; confirmed and ended


def test_a_car_waiting_while_nothing_moves_is_one_passage_however_long():
    tracker = PassageTracker(PassageSettings(same_plate_s=15.0, end_after_s=2.0))
    decided = play(tracker, approaching("湘A12345"), tail_s=0.0)  # comes in and stops at the barrier
    t = 2.0
    while t < 62.0:  # a minute in which nothing moves: the motion gate reads no frame
        decided += [(t, p) for p in tracker.tick(t, still=True)]
        t += 0.2
    assert tracker.active == 1  # not gone
    decided += play(tracker, [[read("湘A12345", y=250 + i * 15)] for i in range(5)], t0=t)  # drives on
    assert [p.stage for _, p in decided] == ["confirmed", "ended"]
    assert decided[-1][1].duration_s > 60 and decided[-1][1].reads == 15


def test_a_poor_first_read_is_confirmed_then_upgraded_once_when_the_car_comes_closer():
    tracker = PassageTracker(PassageSettings(sure_confidence=0.9, settle_s=1.0))
    frames = [[read("湘A12345", conf=0.6)] for _ in range(8)] + [[read("湘A12345", conf=0.95)] for _ in range(8)]
    decided = [(p.stage, p.confidence) for _, p in play(tracker, frames)]
    assert decided == [("confirmed", 0.6), ("upgraded", 0.95), ("ended", 0.95)]


def test_a_track_that_ends_before_settling_is_confirmed_at_its_end():
    frames = [[read("湘A12345", conf=0.5)] for _ in range(3)]  # 0.6 s of poor reads, then gone
    decided = play(PassageTracker(PassageSettings(settle_s=5.0, end_after_s=2.0)), frames)
    assert [p.stage for _, p in decided] == ["confirmed", "ended"]
    (t, p), _ = decided
    assert 2.3 <= t <= 2.7 and p.confidence == 0.5 and p.reads == 3  # 2 s after the last read at 0.4 s


def test_voting_per_position_when_no_single_read_is_right():
    frames = [[read("湘A12845", conf=0.9)], [read("湘A92345", conf=0.9)], [read("湘A12345", conf=0.5)],
              [read("湘A12345", conf=0.5)]]
    (p,) = stages(play(PassageTracker(), frames), "ended")
    assert p.plate == "湘A12345" and p.confidence == 0.5 and p.agreeing == 2


def test_vote_and_edit_distance():
    text, color, weakest = vote([s for s in PassageTrackerSightings(("湘A1234", "湘A1234", "湘A1284"))])
    assert (text, color) == ("湘A1234", "blue") and 0.6 < weakest < 0.7
    assert edit_distance("湘A12345", "湘A12345") == 0
    assert edit_distance("湘A12345", "湘A1234") == 1
    assert edit_distance("湘A12345", "湘B12346") == 2
    assert edit_distance("湘AD12345", "湘A1234") == 2


def PassageTrackerSightings(texts: tuple[str, ...]):  # noqa: N802 - reads as the list it builds
    from vision.passage import _Sighting

    return [_Sighting(t, "blue", 0.9, (0, 0, 100, 30), float(i)) for i, t in enumerate(texts)]


def test_another_car_one_character_off_soon_after_a_passage_is_a_new_passage():
    tracker = PassageTracker(PassageSettings(same_plate_s=15.0))
    play(tracker, approaching("湘A12345"), tail_s=3.0)
    decided = play(tracker, approaching("湘A12346"), t0=8.0)  # the neighbour's car, 5 s after the first has gone
    assert [(p.stage, p.plate) for _, p in decided] == [("confirmed", "湘A12346"), ("ended", "湘A12346")]
    # but the first car again where it was last seen, its plate misread by one character, is the same car
    play(tracker, approaching("湘A12345"), t0=20.0, tail_s=3.0)  # last seen at y=235
    assert play(tracker, [[read("湘A12845", y=235)] for _ in range(5)], t0=26.0) == []


def test_a_car_read_poorly_and_lost_for_a_moment_is_reported_again_once_read_surely():
    tracker = PassageTracker(PassageSettings(same_plate_s=15.0))
    first = play(tracker, approaching("湘A12345", conf=0.8), tail_s=3.0)
    still_poor = play(tracker, [[read("湘A12345", conf=0.8, y=250)] for _ in range(5)], t0=6.0, tail_s=3.0)
    sure = play(tracker, [[read("湘A12345", conf=0.97, y=250 + i * 15)] for i in range(10)], t0=12.0)
    assert [p.stage for _, p in first] == ["confirmed", "ended"]
    assert still_poor == []  # the same car, read no better: not a second passage
    assert [(p.stage, p.confidence) for _, p in sure] == [("confirmed", 0.97), ("ended", 0.97)]
    assert play(tracker, approaching("湘A12345"), t0=20.0) == []  # now decided surely: the same car


def test_a_car_one_character_off_close_behind_is_its_own_passage():
    frames = approaching("湘A12345") + approaching("湘A12346")  # the second car enters as the first leaves
    decided = play(PassageTracker(), frames)
    assert sorted(p.plate for p in stages(decided, "confirmed")) == ["湘A12345", "湘A12346"]
    assert len({p.track for _, p in decided}) == 2


def test_a_sure_first_misread_voted_away_is_reported_as_an_upgrade_with_the_plate():
    frames = [[read("湘A12845", conf=0.95, y=100)]] + [[read("湘A12345", conf=0.93 + (i > 0) / 100, y=130 + i * 15)]
                                                      for i in range(9)]
    decided = [(p.stage, p.plate) for _, p in play(PassageTracker(), frames)]
    assert decided == [("confirmed", "湘A12845"), ("upgraded", "湘A12345"), ("ended", "湘A12345")]


def test_crossing_the_notice_bar_after_confirmation_is_an_upgrade():
    tracker = PassageTracker(PassageSettings(notice_confidence=0.6, settle_s=1.0))
    frames = [[read("粤B7Q2X5", conf=0.5)] for _ in range(8)] + [[read("粤B7Q2X5", conf=0.85)] for _ in range(8)]
    decided = [(p.stage, p.confidence) for _, p in play(tracker, frames)]
    assert decided == [("confirmed", 0.5), ("upgraded", 0.85), ("ended", 0.85)]
