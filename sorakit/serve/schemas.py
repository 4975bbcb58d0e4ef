"""The HTTP API's bodies, in the shape of OpenAI's Videos API with sorakit's fields beside it.
Every limit is in the schema, so a bad field is a 422 that names it and its range."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sorakit.serve.images import MAX_REFERENCE_CHARS, normalise_image

MAX_PROMPT_CHARS = 1000
MAX_SECONDS = 8.0  # the default model's 65 frames at 8 fps


def _seconds_in_range(cls, value: str) -> str:
    if float(value) > MAX_SECONDS:
        raise ValueError(f"seconds must be from 0 to {MAX_SECONDS:g}")
    return value


def _size_in_range(cls, value: str) -> str:
    if not all(8 <= int(v) <= 512 for v in value.split("x")):
        raise ValueError("each side must be from 8 to 512 pixels")
    return value


class VideoCreate(BaseModel):
    """POST /v1/videos."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"prompt": "a red ball falls and bounces", "seconds": "2", "size": "64x64"}]
    })  # fmt: skip

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    seconds: str = Field("2", pattern=r"^\d+(\.\d+)?$", description=f"0 to {MAX_SECONDS:g}")
    size: str = Field("64x64", pattern=r"^\d{1,4}x\d{1,4}$", description="WIDTHxHEIGHT")
    model: str = Field("default", description="the server's model (the only one it serves)")
    seed: int = Field(0, ge=0, lt=2**63)
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    fps: float | None = Field(None, gt=0, le=120, allow_inf_nan=False)
    planning: bool = True
    input_reference: str | None = Field(
        None, max_length=MAX_REFERENCE_CHARS,
        description="an image to animate (its first frame): base64 PNG or JPEG, or a data: URL",
    )  # fmt: skip

    _seconds = field_validator("seconds")(_seconds_in_range)
    _size = field_validator("size")(_size_in_range)

    @field_validator("input_reference")
    @classmethod
    def _reference_readable(cls, value: str | None) -> str | None:
        return None if value is None else normalise_image(value)


class PlanCreate(BaseModel):
    """POST /v1/plans: the planner alone, for a preview as the prompt is typed."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    seconds: str = Field("2", pattern=r"^\d+(\.\d+)?$", description=f"0 to {MAX_SECONDS:g}")
    size: str = Field("64x64", pattern=r"^\d{1,4}x\d{1,4}$", description="WIDTHxHEIGHT")
    seed: int = Field(0, ge=0, lt=2**63)
    fps: float | None = Field(None, gt=0, le=120, allow_inf_nan=False)

    _seconds = field_validator("seconds")(_seconds_in_range)
    _size = field_validator("size")(_size_in_range)


class PlanResult(BaseModel):
    understood: bool  # every part of the prompt placed: `generate` would render this plan
    plan: dict[str, Any] | None  # per-frame boxes, or None when nothing could be laid out
    unplaced: list[str]  # words or problems the planner could not place
    substitutions: dict[str, str]  # unknown word -> the known word it was read as
    assumed: list[str]  # what the prompt left open and the planner chose
    ignored: list[str] = []  # filler a user may expect drawn that the world has nothing for
    # For a prompt the world cannot show: one line saying so, and the nearest prompts it can
    # (a video of this prompt draws the first of them).
    refusal: str | None = None
    nearest: list[str] = []
    error: str | None = None  # why nothing could be laid out


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """The video object: the job and, once run, what it made."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    prompt: str
    seconds: str
    size: str
    error: VideoError | None = None
    queue_position: int | None = None  # 0: next to run
    settings: dict[str, Any] | None = None  # what the model ran with (the provenance)
    plan: dict[str, Any] | None = None  # the layout it rendered, if planned
    # The world evaluation's verdicts on a planned video: name -> passed, value, note.
    verdicts: dict[str, dict[str, Any]] | None = None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    has_more: bool
    last_id: str | None = None
