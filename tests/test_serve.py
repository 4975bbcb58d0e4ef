"""`sorakit serve`'s API and worker on a tiny model: jobs, files, bad input, a full queue,
cancelling, and jobs kept across a crash."""

from __future__ import annotations

import base64
import io
import re

import av
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from sorakit.models.dit import DIT_PRESETS, DiT
from sorakit.models.text import TextEncoder
from sorakit.models.vae import VAE_PRESETS, CausalVAE
from sorakit.pipeline import PipelineConfig, TextToVideoPipeline
from sorakit.planner import parse
from sorakit.serve.app import create_app
from sorakit.serve.store import JobStore
from sorakit.serve.verdicts import plan_verdicts
from sorakit.serve.worker import content_path, remove_partial_files, run_job
from sorakit.world.clip import clip_duration, render_scene
from sorakit.world.sampling import SceneSpec, sample_scene


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    torch.manual_seed(0)
    config = PipelineConfig(width=16, height=16, frames=9, steps=2)
    folder = tmp_path_factory.mktemp("model")
    TextToVideoPipeline(
        CausalVAE(VAE_PRESETS["tiny"]), DiT(DIT_PRESETS["tiny"]),
        TextEncoder.from_pretrained("minilm"), config,
    ).save_pretrained(folder)  # fmt: skip
    return TextToVideoPipeline.from_pretrained(folder)


@pytest.fixture
def server(tmp_path):
    db, data = tmp_path / "jobs.sqlite", tmp_path / "data"
    client = TestClient(create_app(db, data, max_queue=3))
    return client, JobStore(db), data


def work(store: JobStore, pipe, data) -> None:
    """What the worker process does, until the queue is empty."""
    while (job := store.claim()) is not None:
        run_job(store, pipe, data, job)


BODY = {"prompt": "a red ball falls", "seconds": "1", "size": "16x16", "steps": 2}


def test_a_job_runs_to_a_video_that_plays(server, pipe):
    client, store, data = server
    created = client.post("/v1/videos", json=BODY)
    assert created.status_code == 200, created.text
    video = created.json()
    assert video["object"] == "video" and video["status"] == "queued"
    assert video["queue_position"] == 0 and video["id"].startswith("video_")
    work(store, pipe, data)
    done = client.get(f"/v1/videos/{video['id']}").json()
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["settings"]["frames"] == 9  # 1 s at 8 fps, as the model takes it: 1 + 4k
    content = client.get(f"/v1/videos/{video['id']}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    with av.open(str(content_path(data, video["id"]))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 9
    thumb = client.get(f"/v1/videos/{video['id']}/content", params={"variant": "thumbnail"})
    assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "field,value",
    [("steps", 0), ("steps", 5000), ("seconds", "99"), ("seconds", "-1"), ("size", "16"),
     ("size", "4x4"), ("size", "9999x16"), ("guidance", -1), ("seed", -1), ("prompt", ""),
     ("prompt", "x" * 5000), ("stpes", 5), ("fps", 0)],  # fmt: skip
)
def test_bad_fields_are_a_422_naming_the_field(server, field, value):
    client, store, _ = server
    response = client.post("/v1/videos", json={**BODY, field: value})
    assert response.status_code == 422, response.text
    assert field in response.text
    assert store.queued() == 0


def test_a_full_queue_is_a_429_with_retry_after(server):
    client, _, _ = server
    for _ in range(3):
        assert client.post("/v1/videos", json=BODY).status_code == 200
    full = client.post("/v1/videos", json=BODY)
    assert full.status_code == 429 and int(full.headers["retry-after"]) > 0


def test_deleting_cancels_and_removes_the_files(server, pipe):
    client, store, data = server
    first = client.post("/v1/videos", json=BODY).json()["id"]
    second = client.post("/v1/videos", json=BODY).json()["id"]
    assert client.get(f"/v1/videos/{second}").json()["queue_position"] == 1
    deleted = client.delete(f"/v1/videos/{second}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    assert client.get(f"/v1/videos/{second}").status_code == 404
    work(store, pipe, data)
    assert client.get(f"/v1/videos/{first}").json()["status"] == "completed"
    client.delete(f"/v1/videos/{first}")
    assert not content_path(data, first).exists() and not list((data / "videos").iterdir())


def test_a_running_job_stops_at_its_next_step_when_cancelled(server, pipe):
    client, store, data = server
    job_id = client.post("/v1/videos", json=BODY).json()["id"]
    job = store.claim()
    store.cancel(job_id)  # as DELETE does while the worker runs it
    run_job(store, pipe, data, job)
    assert store.get(job_id).status == "cancelled"
    assert not content_path(data, job_id).exists()


def test_jobs_survive_a_crash_and_run_again(server, pipe, tmp_path):
    client, store, data = server
    ids = [client.post("/v1/videos", json=BODY).json()["id"] for _ in range(2)]
    store.claim()  # the worker took the first one, then died
    fresh = JobStore(tmp_path / "jobs.sqlite")  # a restarted server
    assert fresh.requeue_interrupted() == 1
    assert [fresh.get(i).status for i in ids] == ["queued", "queued"]
    work(fresh, pipe, data)
    assert all(client.get(f"/v1/videos/{i}").json()["status"] == "completed" for i in ids)


def test_listing_pages_newest_first(server):
    client, _, _ = server
    ids = [client.post("/v1/videos", json=BODY).json()["id"] for _ in range(3)]
    first = client.get("/v1/videos", params={"limit": 2}).json()
    assert [v["id"] for v in first["data"]] == ids[::-1][:2] and first["has_more"]
    rest = client.get("/v1/videos", params={"limit": 2, "after": first["last_id"]}).json()
    assert [v["id"] for v in rest["data"]] == [ids[0]] and not rest["has_more"]
    assert client.get("/v1/videos/video_nope").status_code == 404


def test_a_bad_prompt_fails_the_job_with_a_reason(server, pipe):
    client, store, data = server
    job_id = client.post("/v1/videos", json={**BODY, "prompt": "🎈🎉"}).json()["id"]
    work(store, pipe, data)
    video = client.get(f"/v1/videos/{job_id}").json()
    assert video["status"] == "failed" and video["error"]["code"] == "invalid_request"
    assert "no words" in video["error"]["message"]


def test_an_api_key_is_required_when_set(tmp_path):
    client = TestClient(create_app(tmp_path / "j.sqlite", tmp_path / "d", api_key="secret"))
    assert client.post("/v1/videos", json=BODY).status_code == 401
    ok = client.post("/v1/videos", json=BODY, headers={"Authorization": "Bearer secret"})
    assert ok.status_code == 200
    assert client.get("/healthz").json()["queued"] == 1


def test_a_server_off_loopback_needs_a_key(capsys, monkeypatch):
    from sorakit.cli.main import main

    monkeypatch.delenv("SORAKIT_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "SORAKIT_API_KEY" in capsys.readouterr().err


def test_plans_preview_what_generate_would_render(tmp_path):
    client = TestClient(create_app(tmp_path / "j.sqlite", tmp_path / "d"))
    good = client.post("/v1/plans", json={"prompt": "a crimson ball falls", "size": "64x64"})
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["understood"] and body["plan"]["objects"][0]["colour"] == "red"  # read as red
    assert len(body["plan"]["frames"]) == 17  # 2 s at 8 fps, as the model takes it
    vague = client.post("/v1/plans", json={"prompt": "a cat plays the piano"}).json()
    assert not vague["understood"] and vague["unplaced"]
    # What a video of it draws: the nearest prompt the world can show, planned, and said so.
    assert "cannot draw 'cat'" in vague["refusal"] and len(vague["nearest"]) == 3
    assert vague["plan"]["prompt"] == vague["nearest"][0]
    assert client.post("/v1/plans", json={"prompt": "x", "seconds": "99"}).status_code == 422


def test_a_planned_video_carries_verdicts_and_a_spritesheet(server, pipe):
    client, store, data = server
    job_id = client.post("/v1/videos", json=BODY).json()["id"]
    work(store, pipe, data)
    video = client.get(f"/v1/videos/{job_id}").json()
    assert video["plan"] is not None
    verdicts = video["verdicts"]
    assert {"binding", "count", "gravity", "no_extra", "smoothness"} <= set(verdicts)
    assert all(isinstance(v["passed"], bool) and v["note"] for v in verdicts.values())
    sheet = client.get(f"/v1/videos/{job_id}/content", params={"variant": "spritesheet"})
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(sheet.content)).size == (48, 48)  # 9 frames of 16x16, 3x3
    assert client.get(f"/v1/videos/{job_id}/content", params={"variant": "x"}).status_code == 422


@pytest.mark.parametrize(
    "prompt,verdict,value",
    [("a red ball falls and bounces", "gravity", "g = 3.0"),
     ("a small blue square moves right", "motion", "asked right")],  # fmt: skip
)
def test_verdicts_pass_on_the_world_itself(prompt, verdict, value):
    """The world's own render of a prompt's scene passes the checks a served video gets."""
    parsed = parse(prompt)
    spec = SceneSpec(tuple(parsed.groups), relations=tuple(parsed.relations))
    # Seed 0's layouts show each motion through the clip (the mover meets no wall).
    scene, trajectory = sample_scene(0, aspect=1.0, duration=clip_duration(8.0, 17), spec=spec)
    clip = render_scene(scene, trajectory, 64, 64, 8.0, 17)
    verdicts = plan_verdicts(clip.frames, clip.fps, clip.annotation)
    assert verdicts[verdict]["passed"] and value in verdicts[verdict]["note"], verdicts
    assert verdicts["binding"]["passed"] and verdicts["no_extra"]["passed"]


def _png_base64(size: tuple[int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (230, 40, 40)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_an_input_reference_is_animated_from_its_first_frame(server, pipe):
    client, store, data = server
    image = "data:image/png;base64," + _png_base64((900, 700))
    job_id = client.post("/v1/videos", json={**BODY, "input_reference": image}).json()["id"]
    stored = store.get(job_id).request["input_reference"]
    assert Image.open(io.BytesIO(base64.b64decode(stored))).size == (512, 398)  # shrunk once
    work(store, pipe, data)
    video = client.get(f"/v1/videos/{job_id}").json()
    assert video["status"] == "completed", video
    assert video["settings"]["mode"] == "image-to-video" and video["verdicts"] is None
    for bad in ("not base64!", base64.b64encode(b"not an image").decode()):
        response = client.post("/v1/videos", json={**BODY, "input_reference": bad})
        assert response.status_code == 422 and "input_reference" in response.text


def test_a_stale_claim_cannot_mark_a_job_run_again(server):
    """A worker that outlived its server: its job was queued again and claimed by a new worker."""
    client, store, _ = server
    job_id = client.post("/v1/videos", json=BODY).json()["id"]
    stale = store.claim()
    store.requeue_interrupted()  # the new server
    fresh = store.claim()
    assert not store.progress(stale, 50) and store.progress(fresh, 10)
    store.complete(stale, {"settings": {}})
    assert store.get(job_id).status == "in_progress" and store.get(job_id).progress == 10
    store.complete(fresh, {"settings": {}})
    assert store.get(job_id).status == "completed"


def test_the_studio_page_is_served_without_the_network(server):
    client, _, _ = server
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_a_prompt_the_world_cannot_show_is_drawn_as_the_nearest_it_can(server, pipe):
    client, store, data = server
    body = {**BODY, "prompt": "a cat playing the piano in Paris"}
    job_id = client.post("/v1/videos", json=body).json()["id"]
    work(store, pipe, data)
    done = client.get(f"/v1/videos/{job_id}").json()
    assert done["status"] == "completed" and done["plan"]["understood"]
    drawn = done["settings"]["prompt"]  # the provenance says what was drawn
    assert drawn != body["prompt"] and drawn == pipe.planner.read(body["prompt"]).nearest[0]


def test_writes_cut_short_by_a_kill_are_removed_at_start(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / ".tmp-video_x-abc.mp4").write_bytes(b"partial")
    (videos / ".tmp-video_y-def").mkdir()
    kept = videos / "video_z.mp4"
    kept.write_bytes(b"done")
    assert remove_partial_files(tmp_path) == 2
    assert [p.name for p in videos.iterdir()] == ["video_z.mp4"]
