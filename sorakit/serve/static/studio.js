// sorakit studio: the page over the server's own API (/v1/plans, /v1/videos). No framework and
// no network beyond this server, so it works offline.
"use strict";

// The world's palette (sorakit.world.vocab.PALETTE): plans name colours, the canvas needs RGB.
const PALETTE = {
  red: "rgb(230,40,40)", orange: "rgb(245,140,30)", yellow: "rgb(240,210,40)",
  green: "rgb(40,190,70)", cyan: "rgb(40,210,220)", blue: "rgb(50,90,235)",
  purple: "rgb(160,70,210)", white: "rgb(235,235,235)",
};
const VERDICT_NAMES = {
  binding: "objects & shapes", count: "count", relation: "relation", motion: "direction",
  gravity: "gravity (fitted g)", throw: "throw", collision: "collision",
  no_extra: "no extra objects", permanence: "permanence", flicker: "flicker",
  smoothness: "smoothness",
};
const POLL_MS = 1000;
const PLAN_DEBOUNCE_MS = 300;

const $ = (id) => document.getElementById(id);
const state = { videos: [], selected: null, planTimer: 0, planAsked: 0 };

// --- the API ----------------------------------------------------------------------------------

function headers(json) {
  const h = json ? { "content-type": "application/json" } : {};
  const key = $("api-key").value.trim();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(describeError(response, data));
    error.status = response.status;
    throw error;
  }
  return data;
}

function describeError(response, data) {
  if (response.status === 429) {
    return `${data.detail || "the queue is full"} (retry in ${response.headers.get("retry-after")} s)`;
  }
  if (Array.isArray(data.detail)) {
    return data.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return data.detail || `${response.status} ${response.statusText}`;
}

function contentUrl(video, variant) {
  return `/v1/videos/${video.id}/content` + (variant ? `?variant=${variant}` : "");
}

// --- drawing plans ----------------------------------------------------------------------------

function frameAt(plan, seconds) {
  // An animation frame's timestamp may precede the moment the plan arrived: never below 0.
  const frames = plan.frames;
  const index = Math.floor(Math.max(0, seconds) * plan.scene.fps + 1e-6);
  return frames[Math.min(frames.length - 1, index)];
}

function drawShape(ctx, obj, sx, sy, filled) {
  const [x0, y0, x1, y1] = obj.bbox;
  const [l, t, w, h] = [x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy];
  ctx.beginPath();
  if (obj.shape === "circle") {
    ctx.ellipse(l + w / 2, t + h / 2, w / 2, h / 2, 0, 0, 2 * Math.PI);
  } else if (obj.shape === "triangle") {
    ctx.moveTo(l + w / 2, t); ctx.lineTo(l + w, t + h); ctx.lineTo(l, t + h); ctx.closePath();
  } else {
    ctx.rect(l, t, w, h);
  }
  const colour = PALETTE[obj.colour] || "#ccc";
  if (filled) {
    ctx.fillStyle = colour; ctx.fill();
  } else {
    ctx.strokeStyle = colour; ctx.setLineDash([5, 3]); ctx.lineWidth = 2;
    ctx.strokeRect(l, t, w, h); ctx.setLineDash([]);
  }
}

// Objects of one plan frame on `canvas`: filled shapes for the preview, dashed boxes over a video.
function drawPlanFrame(canvas, plan, frame, filled) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const sx = canvas.width / plan.scene.width, sy = canvas.height / plan.scene.height;
  for (const obj of frame.objects) drawShape(ctx, obj, sx, sy, filled);
}

function sizeCanvasToBox(canvas) {
  const box = canvas.getBoundingClientRect();
  const scale = window.devicePixelRatio || 1;
  const [w, h] = [Math.round(box.width * scale), Math.round(box.height * scale)];
  if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
}

// --- the plan preview -------------------------------------------------------------------------

const preview = { plan: null, start: 0 };

function schedulePlan() {
  clearTimeout(state.planTimer);
  state.planTimer = setTimeout(requestPlan, PLAN_DEBOUNCE_MS);
}

async function requestPlan() {
  const prompt = $("prompt").value.trim();
  const asked = ++state.planAsked;
  if (!prompt) { showPlan(null); return; }
  try {
    const result = await api("POST", "/v1/plans", {
      prompt, seconds: $("seconds").value, size: $("size").value, seed: seedValue(),
    });
    if (asked === state.planAsked) showPlan(result);  // a later keystroke's answer wins
  } catch (error) {
    if (asked === state.planAsked) showPlan({ error: error.message, unplaced: [], plan: null });
  }
}

function listInto(list, items) {
  list.replaceChildren(...items.map((text) => {
    const li = document.createElement("li"); li.textContent = text; return li;
  }));
}

function showPlan(result) {
  preview.plan = result && result.plan;
  preview.start = performance.now();
  const canvas = $("plan-canvas");
  if (preview.plan) canvas.style.aspectRatio = `${preview.plan.scene.width} / ${preview.plan.scene.height}`;
  const status = $("plan-status");
  if (!result) {
    status.textContent = "Type a prompt to see where the planner puts things.";
  } else if (result.understood) {
    const n = preview.plan.objects.length;
    status.textContent = `Understood: ${n} object${n === 1 ? "" : "s"} placed.`;
  } else if (result && result.refusal && result.nearest.length) {
    status.textContent = `The world cannot show this prompt; a video of it draws "${result.nearest[0]}".`;
  } else if (preview.plan) {
    status.textContent = "Placed in part; the rest is left to the model:";
  } else {
    status.textContent = result.error || "Nothing to place.";
  }
  listInto($("plan-unplaced"), result ? result.unplaced.map((w) => `could not place: ${w}`) : []);
  const read = result && result.plan ? [
    ...Object.entries(result.substitutions || {}).map(([a, b]) => `read "${a}" as "${b}"`),
    ...(result.assumed || []).map((a) => `assumed: ${a}`),
    ...(result.ignored || []).map((w) => `nothing drawn for "${w}"`),
    ...(result.nearest || []).slice(1).map((p) => `also drawable: "${p}"`),
  ] : [];
  listInto($("plan-read"), read);
  $("plan-canvas").dataset.objects = preview.plan ? preview.plan.objects.length : 0;
}

function animatePreview(now) {
  const canvas = $("plan-canvas");
  sizeCanvasToBox(canvas);
  if (preview.plan) {
    const duration = preview.plan.frames.length / preview.plan.scene.fps;
    drawPlanFrame(canvas, preview.plan, frameAt(preview.plan, ((now - preview.start) / 1000) % duration), true);
  } else {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
  requestAnimationFrame(animatePreview);
}

// --- submitting -------------------------------------------------------------------------------

function seedValue() {
  return Math.max(0, parseInt($("seed").value, 10) || 0);
}

function showMessage(text, error) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", Boolean(error));
}

async function submit(body) {
  $("submit").disabled = true;
  try {
    const video = await api("POST", "/v1/videos", body);
    showMessage(`Queued (${video.id}).`);
    await refresh();
  } catch (error) {
    showMessage(error.message, true);
  } finally {
    $("submit").disabled = false;
  }
}

function composed() {
  const body = {
    prompt: $("prompt").value.trim(), seconds: $("seconds").value, size: $("size").value,
    seed: seedValue(),
  };
  const steps = parseInt($("steps").value, 10);
  if (steps > 0) body.steps = steps;
  return body;
}

// --- the queue and the gallery ----------------------------------------------------------------

async function refresh() {
  try {
    const [list, health] = await Promise.all([
      api("GET", "/v1/videos?limit=100"), api("GET", "/healthz"),
    ]);
    state.videos = list.data;
    $("health").textContent = `server up · ${health.queued} queued`;
  } catch (error) {
    $("health").textContent = `server: ${error.message}`;
    return;
  }
  renderQueue();
  renderGallery();
  const selected = state.videos.find((v) => v.id === (state.selected && state.selected.id));
  if (!state.selected || !selected) selectNewestIfNone();
}

function jobItem(video) {
  const li = document.createElement("li");
  li.className = "job"; li.dataset.id = video.id; li.dataset.status = video.status;
  const prompt = document.createElement("span");
  prompt.className = "prompt"; prompt.textContent = video.prompt; prompt.title = video.prompt;
  const cancel = document.createElement("button");
  cancel.type = "button"; cancel.className = "cancel"; cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => cancelJob(video.id, cancel));
  const stateText = document.createElement("span");
  stateText.className = "state";
  stateText.textContent = video.status === "queued"
    ? `queued · position ${video.queue_position + 1}`
    : `generating · ${video.progress}%`;
  const bar = document.createElement("progress");
  bar.max = 100; bar.value = video.progress;
  li.append(prompt, cancel, stateText, bar);
  return li;
}

function renderQueue() {
  const waiting = state.videos.filter((v) => v.status === "queued" || v.status === "in_progress");
  waiting.reverse();  // the next to run first
  const queue = $("queue");
  if (!waiting.length) {
    queue.innerHTML = '<li class="muted">Nothing waiting.</li>';
    return;
  }
  queue.replaceChildren(...waiting.map(jobItem));
}

async function cancelJob(id, button) {
  button.disabled = true;
  try {
    await api("DELETE", `/v1/videos/${id}`);
    showMessage("Cancelled.");
  } catch (error) {
    showMessage(error.message, true);
  }
  await refresh();
}

function card(video) {
  const li = document.createElement("li");
  li.className = "card"; li.dataset.id = video.id; li.dataset.status = video.status;
  li.classList.toggle("selected", Boolean(state.selected && state.selected.id === video.id));
  const button = document.createElement("button");
  button.type = "button";
  if (video.status === "completed") {
    const img = document.createElement("img");
    img.src = contentUrl(video, "thumbnail"); img.alt = video.prompt; img.loading = "lazy";
    button.append(img);
    button.addEventListener("click", () => select(video));
  } else {
    const failed = document.createElement("span");
    failed.className = "placeholder";
    failed.textContent = video.status;
    button.title = video.error ? video.error.message : video.status;
    button.append(failed);
  }
  const caption = document.createElement("span");
  caption.className = "caption"; caption.textContent = video.prompt;
  button.append(caption);
  li.append(button);
  return li;
}

function renderGallery() {
  const done = state.videos.filter((v) => v.status === "completed" || v.status === "failed");
  const gallery = $("gallery");
  const shown = [...gallery.querySelectorAll(".card")].map((c) => c.dataset.id + c.className).join();
  const next = done.map((v) => v.id + (state.selected && state.selected.id === v.id ? "card selected" : "card")).join();
  if (shown === next && done.length) return;  // unchanged: keep the images from reloading
  if (!done.length) {
    gallery.innerHTML = '<li class="muted">No videos yet.</li>';
    return;
  }
  gallery.replaceChildren(...done.map(card));
}

function selectNewestIfNone() {
  const newest = state.videos.find((v) => v.status === "completed");
  if (newest && !state.selected) select(newest);
}

// --- the viewer -------------------------------------------------------------------------------

function fact(name, value) {
  const div = document.createElement("div");
  const dt = document.createElement("dt"); dt.textContent = name;
  const dd = document.createElement("dd"); dd.textContent = value;
  div.append(dt, dd);
  return div;
}

function settingsFacts(video) {
  const s = video.settings || {};
  const facts = [
    ["seed", s.seed], ["size", `${s.width}x${s.height}`], ["frames", `${s.frames} @ ${s.fps} fps`],
    ["steps", s.steps], ["guidance", s.guidance], ["planned", s.planned ? "yes" : "no"],
    ["cascade", (s.cascade || []).join(", ") || "none"], ["id", video.id],
  ];
  return facts.filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => fact(k, String(v)));
}

function verdictItem([name, verdict]) {
  const li = document.createElement("li");
  li.className = verdict.passed ? "pass" : "fail";
  li.dataset.verdict = name;
  const mark = document.createElement("span"); mark.className = "mark";
  mark.textContent = verdict.passed ? "✓" : "✗";
  const label = document.createElement("span"); label.textContent = VERDICT_NAMES[name] || name;
  const note = document.createElement("span"); note.className = "note"; note.textContent = verdict.note;
  li.append(mark, label, note);
  return li;
}

function select(video) {
  state.selected = video;
  const player = $("player");
  $("viewer-empty").hidden = true;
  $("stage").hidden = false;
  $("viewer-bar").hidden = false;
  const [w, h] = video.size.split("x").map(Number);
  $("stage").style.aspectRatio = `${w} / ${h}`;
  player.src = contentUrl(video);
  player.play().catch(() => {});  // autoplay may wait for a gesture; the controls are there
  $("download").href = contentUrl(video);
  $("sheet").href = contentUrl(video, "spritesheet");
  $("overlay-toggle").disabled = !video.plan;
  $("overlay-toggle").checked = false;
  $("viewer-prompt").textContent = video.prompt;
  $("viewer-settings").replaceChildren(...settingsFacts(video));
  const verdicts = Object.entries(video.verdicts || {});
  $("verdicts-title").hidden = !verdicts.length;
  $("verdicts").replaceChildren(...verdicts.map(verdictItem));
  renderGallery();
}

function drawOverlay() {
  const canvas = $("overlay");
  const video = state.selected;
  const on = $("overlay-toggle").checked && video && video.plan;
  canvas.hidden = !on;
  if (on) {
    sizeCanvasToBox(canvas);
    drawPlanFrame(canvas, video.plan, frameAt(video.plan, $("player").currentTime), false);
  }
  requestAnimationFrame(drawOverlay);
}

function rerun() {
  const video = state.selected;
  if (!video) return;
  const s = video.settings || {};
  const body = {
    prompt: video.prompt, seconds: video.seconds, size: video.size,
    seed: Math.floor(Math.random() * 2 ** 31),
  };
  if (s.steps) body.steps = s.steps;
  if (s.guidance !== undefined && s.guidance !== null) body.guidance = s.guidance;
  submit(body);
}

// --- wiring -----------------------------------------------------------------------------------

function start() {
  for (const button of $("examples").querySelectorAll("button")) {
    button.addEventListener("click", () => { $("prompt").value = button.textContent; schedulePlan(); });
  }
  for (const id of ["prompt", "seconds", "size", "seed"]) $(id).addEventListener("input", schedulePlan);
  $("dice").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 100000); schedulePlan();
  });
  $("compose").addEventListener("submit", (event) => { event.preventDefault(); submit(composed()); });
  $("rerun").addEventListener("click", rerun);
  $("api-key").value = localStorage.getItem("sorakit-api-key") || "";
  $("api-key").addEventListener("change", () => {
    localStorage.setItem("sorakit-api-key", $("api-key").value.trim()); refresh();
  });
  requestAnimationFrame(animatePreview);
  requestAnimationFrame(drawOverlay);
  refresh();
  setInterval(refresh, POLL_MS);
}

start();
