"""`evse replay`: play a recorded car's side of a session against our SECC."""

from evse.replay.replay import ReplayReport, ReplayStep, replay_session

__all__ = ["ReplayReport", "ReplayStep", "replay_session"]
