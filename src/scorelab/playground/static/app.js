// scorelab playground: the page. Plain JavaScript and canvas; every number comes from the
// server (/api/...), which calls the library. Nothing is loaded from anywhere else.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { data: null, drawing: null, status: { state: "idle" }, field: null, samples: null,
            sigmaRange: [0.05, 20], polling: false, fieldTimer: null, anim: null };
const COLORS = { langevin: "#c0392b", annealed: "#1e8449", heun: "#6c3483" };

// ---------------------------------------------------------------- requests and messages
async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", body: JSON.stringify(body),
                                           headers: { "Content-Type": "application/json" } };
  let reply;
  try {
    reply = await fetch(path, opts);
  } catch (e) {
    throw new Error("the playground server does not answer (is it still running?)");
  }
  const out = await reply.json().catch(() => ({ error: `bad answer from the server (${reply.status})` }));
  if (!reply.ok || out.error) throw new Error(out.error || `server error ${reply.status}`);
  return out;
}

function say(text, isError) {
  const box = $("message");
  box.hidden = !text;
  box.textContent = text || "";
  box.className = isError ? "error" : "";
}

async function attempt(fn) {
  try { await fn(); } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------- canvas helpers
function view(canvas) {
  const h = S.data ? S.data.half_width : 1, w = canvas.width;
  return { ctx: canvas.getContext("2d"), w, h,
           px: (x) => (x + h) / (2 * h) * w, py: (y) => (h - y) / (2 * h) * w,
           wx: (px) => px / w * 2 * h - h, wy: (py) => h - py / w * 2 * h };
}

function clear(canvas) {
  const v = view(canvas);
  v.ctx.clearRect(0, 0, v.w, v.w);
  return v;
}

function dots(v, points, color, radius, alpha) {
  v.ctx.fillStyle = color;
  v.ctx.globalAlpha = alpha;
  for (const [x, y] of points) v.ctx.fillRect(v.px(x) - radius / 2, v.py(y) - radius / 2, radius, radius);
  v.ctx.globalAlpha = 1;
}

function heat(v, values, n, rgb, lo, hi) {
  // values: n*n, row by row from the bottom; drawn as cells with opacity by (value - lo)/(hi - lo)
  const cell = v.w / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const t = Math.max(0, Math.min(1, (values[i * n + j] - lo) / (hi - lo)));
    if (t <= 0.01) continue;
    v.ctx.fillStyle = `rgba(${rgb},${(0.85 * t).toFixed(3)})`;
    v.ctx.fillRect(j * cell, v.w - (i + 1) * cell, cell + 0.5, cell + 0.5);
  }
}

function arrows(v, vectors, n, color) {
  // equal-length arrows (direction); opacity grows with log ‖s‖ (magnitude)
  const step = v.w / n, len = 0.42 * step;
  const mags = vectors.map(([a, b]) => Math.hypot(a, b));
  const logs = mags.map((m) => Math.log(m + 1e-12));
  const lo = Math.min(...logs), hi = Math.max(...logs) + 1e-9;
  v.ctx.strokeStyle = color;
  v.ctx.lineWidth = 1.2;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const k = i * n + j, m = mags[k];
    if (!(m > 0) || !isFinite(m)) continue;
    const cx = (j + 0.5) * step, cy = v.w - (i + 0.5) * step;
    const dx = vectors[k][0] / m * len, dy = -vectors[k][1] / m * len;
    v.ctx.globalAlpha = 0.35 + 0.65 * (logs[k] - lo) / (hi - lo);
    v.ctx.beginPath();
    v.ctx.moveTo(cx - dx, cy - dy); v.ctx.lineTo(cx + dx, cy + dy);
    const ang = Math.atan2(dy, dx);
    v.ctx.lineTo(cx + dx - 4 * Math.cos(ang - 0.5), cy + dy - 4 * Math.sin(ang - 0.5));
    v.ctx.moveTo(cx + dx, cy + dy);
    v.ctx.lineTo(cx + dx - 4 * Math.cos(ang + 0.5), cy + dy - 4 * Math.sin(ang + 0.5));
    v.ctx.stroke();
  }
  v.ctx.globalAlpha = 1;
}

function modes(v) {
  if (!S.data || !S.data.modes) return;
  v.ctx.strokeStyle = "#333";
  for (const [x, y] of S.data.modes) {
    v.ctx.beginPath(); v.ctx.arc(v.px(x), v.py(y), 4, 0, 2 * Math.PI); v.ctx.stroke();
  }
}

// ---------------------------------------------------------------- data panel and drawing
function drawData() {
  const v = clear($("data-canvas"));
  const pts = S.drawing || (S.data ? S.data.points : []);
  dots(v, pts, S.drawing ? "#b7791f" : "#2f6fb0", 2.5, 0.6);
  modes(v);
  $("data-info").textContent = S.drawing ? `drawing: ${S.drawing.length} points`
    : S.data ? `${S.data.name}, ${S.data.n} points, view ±${S.data.half_width}` : "";
}

function setData(data) {
  if (data.name === "drawn" && !$("toy").querySelector("option[value=drawn]")) $("toy").add(new Option("(your drawing)", "drawn"));
  $("toy").value = data.name;
  S.data = data; S.drawing = null; S.field = null; S.samples = null; S.status = { state: "idle" };
  $("data-canvas").classList.remove("drawing");
  $("draw").classList.remove("on");
  $("use-drawing").disabled = true;
  $("draw-hint").textContent = "";
  S.sigmaRange = [0.005 * data.half_width, 2 * data.half_width];
  $("score").value = data.exact ? $("score").value : "learned";
  $("true-title").innerHTML = data.exact ? "true score ∇log p<sub>σ</sub>(x)"
    : "score of the points' own p<sub>σ</sub> (no closed form)";
  drawData(); drawLoss(); drawSamplers(0); showStatus(); setSigmaNote();
  refreshField();
}

function startDrawing() {
  S.drawing = [];
  $("data-canvas").classList.add("drawing");
  $("draw").classList.add("on");
  $("use-drawing").disabled = false;
  $("draw-hint").textContent = "click or drag on the data panel; each click adds a small spray of points";
  drawData();
}

function spray(ev) {
  if (!S.drawing) return;
  const c = $("data-canvas"), r = c.getBoundingClientRect(), v = view(c);
  const px = (ev.clientX - r.left) * c.width / r.width, py = (ev.clientY - r.top) * c.height / r.height;
  const spread = 0.02 * S.data.half_width;
  for (let k = 0; k < 6; k++) {
    const x = v.wx(px) + spread * gauss(), y = v.wy(py) + spread * gauss();
    if (Math.abs(x) < v.h && Math.abs(y) < v.h) S.drawing.push([x, y]);
  }
  drawData();
}

function gauss() {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

// ---------------------------------------------------------------- training
function number(id) { return $(id).value === "" ? null : Number($(id).value); }

async function train() {
  const body = { model: $("model").value, objective: $("objective").value, steps: number("steps"),
                 lr: number("lr"), field_sigma: sigma() };
  if (body.objective === "dsm") body.sigma = number("sigma-input");
  S.status = await api("/api/train", body);
  S.samples = null; drawSamplers(0);
  say("training… (the field on the left follows the network as it learns)");
  showStatus(); poll();
}

async function poll() {
  if (S.polling) return;
  S.polling = true;
  try {
    while (true) {
      S.status = await api("/api/status");
      showStatus(); drawLoss();
      if (S.status.state !== "training") break;
      await refreshField();
      await new Promise((r) => setTimeout(r, 300));
    }
  } catch (e) { say(e.message, true); }
  S.polling = false;
  if (S.status.state === "done") {
    if (S.status.levels >= 2) S.sigmaRange = [S.status.sigma_min, S.status.sigma_max];
    setSigmaNote();
    say(S.status.message ? `trained (${S.status.message})` : "trained: move σ, then sample");
    refreshField();
  } else if (S.status.state === "error") {
    say(S.status.message, true);
  }
}

function showStatus() {
  const st = S.status, training = st.state === "training";
  document.body.dataset.training = st.state;
  $("train").disabled = training; $("stop").disabled = !training;
  $("status").textContent = st.state === "idle" ? "no model yet"
    : st.state === "error" ? "training failed"
    : `${training ? "training" : "trained"}: step ${st.step} of ${st.steps}, ${st.seconds} s` +
      (st.levels !== undefined ? `, ${st.levels} noise level${st.levels === 1 ? "" : "s"}` : "");
}

function drawLoss() {
  const c = $("loss-canvas"), ctx = c.getContext("2d"), w = c.width, pad = 34;
  ctx.clearRect(0, 0, w, w);
  const losses = (S.status.losses || []);
  c.dataset.points = losses.length;
  if (losses.length) { c.dataset.first = losses[0][1]; c.dataset.last = losses[losses.length - 1][1]; }
  ctx.strokeStyle = "#999"; ctx.strokeRect(pad, 8, w - pad - 8, w - pad - 8);
  ctx.fillStyle = "#5d6b7a"; ctx.font = "11px sans-serif";
  if (losses.length < 2) { ctx.fillText("the loss appears here while training", pad + 8, w / 2); return; }
  const xs = losses.map((p) => p[0]), ys = losses.map((p) => p[1]);
  const x1 = S.status.steps, y0 = Math.min(...ys), y1 = Math.max(...ys) + 1e-12;
  const X = (x) => pad + (x / x1) * (w - pad - 8), Y = (y) => 8 + (y1 - y) / (y1 - y0) * (w - pad - 8);
  ctx.strokeStyle = "#2f6fb0"; ctx.lineWidth = 1.5; ctx.beginPath();
  xs.forEach((x, i) => (i ? ctx.lineTo(X(x), Y(ys[i])) : ctx.moveTo(X(x), Y(ys[i]))));
  ctx.stroke();
  ctx.fillText(y1.toPrecision(3), 2, 16); ctx.fillText(y0.toPrecision(3), 2, w - pad);
  ctx.fillText("step", w - 40, w - 12); ctx.fillText(String(x1), X(x1) - 24, w - pad + 14);
}

// ---------------------------------------------------------------- fields and σ
function sigma() {
  const [lo, hi] = S.sigmaRange, t = Number($("sigma-slider").value) / 1000;
  return lo * Math.pow(hi / lo, t);
}

function setSigmaNote() {
  const st = S.status;
  $("sigma-note").textContent = st.state === "done" && st.levels < 2
    ? `this model has ${st.levels === 1 ? "one σ" : "no σ"}: its field does not change with σ; the truth's does`
    : st.state === "done" ? "the model's training range" : "";
}

async function refreshField() {
  if (!S.data) return;
  $("sigma-value").textContent = `σ = ${sigma().toPrecision(3)}`;
  const s = sigma();
  try {
    const f = await api(`/api/field?field_sigma=${s}`);
    if (Math.abs(f.sigma - sigma()) > 1e-9 * s && S.field) return;  // the slider moved on
    S.field = f; drawFields();
  } catch (e) { say(e.message, true); }
}

function drawFields() {
  const f = S.field;
  if (!f) return;
  const tv = clear($("true-canvas"));
  const logs = f.log_density, top = Math.max(...logs);
  heat(tv, logs, f.n_density, "47,111,176", top - 12, top);
  arrows(tv, f.true, f.n, "#1d2733");
  modes(tv);
  $("true-canvas").dataset.sigma = f.sigma;
  const lc = $("learned-canvas"), lv = clear(lc);
  if (f.learned) {
    if (f.error_map) {  // relative error ‖s_θ − ∇log p_σ‖ / ‖∇log p_σ‖, from 1 % (clear) to 100 % (red)
      const rel = f.error_map.map((e, k) => Math.log10(e / (Math.hypot(...f.true[k]) + 1e-12) + 1e-9));
      heat(lv, rel, f.n, "192,57,43", -2, 0);
    }
    arrows(lv, f.learned, f.n, "#1d2733");
    lc.dataset.sigma = f.sigma_learned;
  } else {
    lv.ctx.fillStyle = "#5d6b7a"; lv.ctx.font = "12px sans-serif";
    lv.ctx.fillText("train a model to see its field", 60, 150);
  }
  modes(lv);
}

let sliderTimer = null;
function onSlider() {
  $("sigma-value").textContent = `σ = ${sigma().toPrecision(3)}`;
  clearTimeout(sliderTimer);
  sliderTimer = setTimeout(refreshField, 80);
}

// ---------------------------------------------------------------- sampling and animation
async function sample() {
  const body = { n: number("n"), starts: $("starts").value, score: $("score").value,
                 langevin_steps: number("langevin-steps"), steps_per_level: number("steps-per-level") };
  say("sampling…");
  $("sample").disabled = true;
  try {
    S.samples = await api("/api/sample", body);
  } finally { $("sample").disabled = false; }
  const failed = Object.values(S.samples.samplers).filter((r) => r.error).map((r) => `${r.label}: ${r.error}`);
  say(failed.length ? failed.join("\n") : "the same particles, three samplers (fractions: nearest mode)",
      failed.some((f) => f.includes("blew up")));
  animate();
}

function animate() {
  cancelAnimationFrame(S.anim);
  const start = performance.now(), duration = 3500;
  const tick = (now) => {
    const t = Math.min(1, (now - start) / duration);
    drawSamplers(t);
    if (t < 1) S.anim = requestAnimationFrame(tick);
    else document.body.dataset.sampled = Number(document.body.dataset.sampled) + 1;
  };
  S.anim = requestAnimationFrame(tick);
}

function drawSamplers(t) {
  for (const name of Object.keys(COLORS)) {
    const c = $(`s-${name}`), v = clear(c), run = S.samples && S.samples.samplers[name];
    if (S.data) dots(v, S.data.points.slice(0, 800), "#b8c4d0", 2, 0.5);
    modes(v);
    const out = $(`f-${name}`);
    if (!run) { out.textContent = ""; continue; }
    if (run.error) {
      v.ctx.fillStyle = "#b3261e"; v.ctx.font = "12px sans-serif";
      wrap(v.ctx, run.error, 12, 140, v.w - 24);
      out.textContent = "—"; continue;
    }
    const k = Math.round(t * (run.frames.length - 1));
    dots(v, run.frames[k], COLORS[name], 2.5, 0.75);
    c.dataset.frame = k;
    const nfe = Math.round(run.nfe * k / (run.frames.length - 1));
    out.textContent = (run.fractions ? "modes: " + run.fractions[k].map((f) => f.toFixed(2)).join(" / ") + " · " : "")
      + `${nfe} of ${run.nfe} score evaluations`;
  }
}

function wrap(ctx, text, x, y, width) {
  let line = "";
  for (const word of text.split(" ")) {
    if (ctx.measureText(line + word).width > width) { ctx.fillText(line, x, y); y += 15; line = ""; }
    line += word + " ";
  }
  ctx.fillText(line, x, y);
}

// ---------------------------------------------------------------- presets and set-up
async function preset(name) {
  const out = await api("/api/preset", { name });
  $("toy").value = out.data.name;
  setData(out.data);
  const s = out.settings;
  $("model").value = s.model; $("objective").value = s.objective; $("steps").value = s.steps; $("lr").value = s.lr;
  if (s.sigma) $("sigma-input").value = s.sigma;
  $("starts").value = s.starts; $("score").value = s.score;
  objectiveChanged();
  $("preset-text").textContent = s.text;
  say("preset loaded: press train, then sample");
}

function objectiveChanged() {
  $("sigma-label").style.display = $("objective").value === "dsm" ? "" : "none";
  if ($("objective").value === "cd") $("model").value = "energy";
}

async function init() {
  const opts = await api("/api/options");
  for (const t of opts.toys) $("toy").add(new Option(t, t));
  for (const [k, label] of Object.entries(opts.objectives)) $("objective").add(new Option(`${k}: ${label}`, k));
  for (const [k, p] of Object.entries(opts.presets)) {
    const b = document.createElement("button");
    b.textContent = p.title; b.id = `preset-${k}`; b.title = p.text;
    b.onclick = () => attempt(() => preset(k));
    $("presets").appendChild(b);
  }
  $("toy").value = opts.data.name;
  $("sigma-slider").value = 500;
  objectiveChanged();
  setData(opts.data);
  $("toy").onchange = () => attempt(async () => {
    if ($("toy").value !== "drawn") { setData(await api("/api/data", { toy: $("toy").value })); say(""); }
  });
  $("draw").onclick = startDrawing;
  $("use-drawing").onclick = () => attempt(async () => {
    setData(await api("/api/data", { points: S.drawing || [], half_width: S.data.half_width }));
    say("your points are the data now: train a model");
  });
  $("objective").onchange = objectiveChanged;
  $("train").onclick = () => attempt(train);
  $("stop").onclick = () => attempt(async () => { S.status = await api("/api/stop", {}); });
  $("sample").onclick = () => attempt(sample);
  $("sigma-slider").oninput = onSlider;
  let down = false;
  const c = $("data-canvas");
  c.onmousedown = (e) => { down = true; spray(e); };
  c.onmousemove = (e) => { if (down) spray(e); };
  window.onmouseup = () => { down = false; };
}

attempt(init);
