/*
 * posematch.js: score a user's pose against a trainer's in the browser, dependency-free.
 *
 * The same definitions as bodylens/video/compare.py (a test runs both on the same inputs):
 * 8 joint angles (elbows, shoulders, hips, knees) from 3D world landmarks; each angle scores
 * 100 * max(0, 1 - error / 60 deg); a frame's score is their mean weighted by
 * max(0.1, trainer visibility * user visibility); the overall score is the mean along a
 * dynamic-time-warping path; mirror "auto" also tries the user's left/right swapped.
 *
 * Landmarks: MediaPipe `worldLandmarks` (33 objects {x, y, z, visibility}) or arrays [x, y, z].
 *
 *   const live = posematch.frameScore(trainerPose.joints_3d, results.worldLandmarks[0]);
 *   const report = posematch.compareSequences(trainerFrames, userFrames, { mirror: "auto" });
 *
 * Works as a <script> (window.posematch), a CommonJS module and an ES module default import.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.posematch = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const LM = {
    left_shoulder: 11, right_shoulder: 12, left_elbow: 13, right_elbow: 14, left_wrist: 15,
    right_wrist: 16, left_hip: 23, right_hip: 24, left_knee: 25, right_knee: 26,
    left_ankle: 27, right_ankle: 28,
  };
  const JOINTS = [
    ["elbow", "shoulder", "elbow", "wrist"],
    ["shoulder", "hip", "shoulder", "elbow"],
    ["hip", "shoulder", "hip", "knee"],
    ["knee", "hip", "knee", "ankle"],
  ];
  const ANGLES = [];
  for (const side of ["left", "right"]) {
    for (const [name, a, b, c] of JOINTS) {
      ANGLES.push([`${side}_${name}`, LM[`${side}_${a}`], LM[`${side}_${b}`], LM[`${side}_${c}`]]);
    }
  }
  const ANGLE_NAMES = ANGLES.map((a) => a[0]);
  const MIRROR = ANGLE_NAMES.map((n) =>
    ANGLE_NAMES.indexOf(n.startsWith("left_") ? "right_" + n.slice(5) : "left_" + n.slice(6))
  );
  const PARTS = {
    "left arm": ["left_shoulder", "left_elbow"],
    "right arm": ["right_shoulder", "right_elbow"],
    "left leg": ["left_hip", "left_knee"],
    "right leg": ["right_hip", "right_knee"],
  };
  const TOLERANCE_DEG = 60.0;
  const MIN_WEIGHT = 0.1;
  const FIX_THRESHOLD_DEG = 10.0;

  function xyz(p) {
    return Array.isArray(p) ? p : [p.x, p.y, p.z];
  }
  function vis(p, v, i) {
    if (v) return v[i];
    if (!Array.isArray(p) && typeof p.visibility === "number") return p.visibility;
    return 1.0;
  }

  /** Angles (degrees) and confidences of one frame's 33 world landmarks. */
  function features(landmarks, visibility) {
    if (!landmarks || landmarks.length !== 33) throw new Error("expected 33 landmarks");
    const angles = new Array(ANGLES.length);
    const conf = new Array(ANGLES.length);
    ANGLES.forEach(([, a, b, c], k) => {
      const pa = xyz(landmarks[a]), pb = xyz(landmarks[b]), pc = xyz(landmarks[c]);
      const u = [pa[0] - pb[0], pa[1] - pb[1], pa[2] - pb[2]];
      const v = [pc[0] - pb[0], pc[1] - pb[1], pc[2] - pb[2]];
      const nu = Math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
      const nv = Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      if (nu === 0 || nv === 0) angles[k] = 0.0;
      else {
        const cos = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (nu * nv);
        angles[k] = (Math.acos(Math.min(1.0, Math.max(-1.0, cos))) * 180) / Math.PI;
      }
      conf[k] = Math.min(
        vis(landmarks[a], visibility, a), vis(landmarks[b], visibility, b),
        vis(landmarks[c], visibility, c)
      );
    });
    return { angles, conf };
  }

  function pair(t, u) {
    let num = 0, den = 0;
    const diff = new Array(t.angles.length);
    for (let k = 0; k < t.angles.length; k++) {
      diff[k] = u.angles[k] - t.angles[k];
      const s = 100.0 * Math.max(0.0, 1.0 - Math.abs(diff[k]) / TOLERANCE_DEG);
      const w = Math.max(MIN_WEIGHT, t.conf[k] * u.conf[k]);
      num += s * w;
      den += w;
    }
    return { score: num / den, diff };
  }

  function mirrored(f) {
    return { angles: MIRROR.map((i) => f.angles[i]), conf: MIRROR.map((i) => f.conf[i]) };
  }

  /** Live score of one user frame against one trainer frame: {score, errors, mirrored}. */
  function frameScore(trainerLandmarks, userLandmarks, options) {
    const mode = (options && options.mirror) || "auto";
    const t = features(trainerLandmarks), u = features(userLandmarks);
    const candidates = [];
    if (mode !== "on") candidates.push([false, pair(t, u)]);
    if (mode !== "off") candidates.push([true, pair(t, mirrored(u))]);
    let best = candidates[0];
    for (const c of candidates) if (c[1].score > best[1].score) best = c;
    const errors = {};
    ANGLE_NAMES.forEach((n, k) => (errors[n] = Math.abs(best[1].diff[k])));
    return { score: best[1].score, errors, mirrored: best[0] };
  }

  function dtwPath(cost, n, m) {
    const W = m + 1;
    const acc = new Float64Array((n + 1) * W).fill(Infinity);
    acc[0] = 0.0;
    for (let i = 1; i <= n; i++) {
      for (let j = 1; j <= m; j++) {
        const best = Math.min(acc[(i - 1) * W + j - 1], acc[(i - 1) * W + j], acc[i * W + j - 1]);
        acc[i * W + j] = cost[(i - 1) * m + j - 1] + best;
      }
    }
    const path = [[n - 1, m - 1]];
    let i = n, j = m;
    while (!(i === 1 && j === 1)) {
      const diag = acc[(i - 1) * W + j - 1], up = acc[(i - 1) * W + j], left = acc[i * W + j - 1];
      if (diag <= up && diag <= left) { i -= 1; j -= 1; }
      else if (up <= left) i -= 1;
      else j -= 1;
      path.push([i - 1, j - 1]);
    }
    return path.reverse();
  }

  function round(x, digits) {
    const f = Math.pow(10, digits);
    return Math.round(x * f) / f;
  }

  function score(T, U) {
    const n = T.feats.length, m = U.feats.length;
    const scores = new Float64Array(n * m);
    const diffs = new Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        const p = pair(T.feats[i], U.feats[j]);
        scores[i * m + j] = p.score;
        diffs[i * m + j] = p.diff;
      }
    }
    const cost = scores.map((s) => 100.0 - s);
    const path = dtwPath(cost, n, m);
    let total = 0;
    const K = ANGLE_NAMES.length;
    const sumAbs = new Array(K).fill(0), sumSigned = new Array(K).fill(0);
    const frames = [];
    const seen = new Set();
    for (const [i, j] of path) {
      const s = scores[i * m + j], d = diffs[i * m + j];
      total += s;
      for (let k = 0; k < K; k++) { sumAbs[k] += Math.abs(d[k]); sumSigned[k] += d[k]; }
      if (seen.has(j)) continue;
      seen.add(j);
      const errors = {};
      ANGLE_NAMES.forEach((name, k) => (errors[name] = round(Math.abs(d[k]), 1)));
      frames.push({ user_frame: U.frames[j], trainer_frame: T.frames[i], score: round(s, 2), errors });
    }
    const len = Math.min(n, m);
    let unaligned = 0;
    for (let k = 0; k < len; k++) unaligned += scores[k * m + k];
    unaligned /= len;
    const meanAbs = sumAbs.map((v) => v / path.length);
    const meanSigned = sumSigned.map((v) => v / path.length);
    const joints = {};
    ANGLE_NAMES.forEach((name, k) => (joints[name] = round(meanAbs[k], 2)));
    let worst = null, worstErr = -1;
    for (const [part, js] of Object.entries(PARTS)) {
      const e = js.reduce((a, j) => a + meanAbs[ANGLE_NAMES.indexOf(j)], 0) / js.length;
      if (e > worstErr) { worst = part; worstErr = e; }
    }
    let fix = null;
    if (worstErr > FIX_THRESHOLD_DEG) {
      let joint = PARTS[worst][0];
      for (const j of PARTS[worst]) {
        if (meanAbs[ANGLE_NAMES.indexOf(j)] > meanAbs[ANGLE_NAMES.indexOf(joint)]) joint = j;
      }
      const action = meanSigned[ANGLE_NAMES.indexOf(joint)] < 0 ? "straighten (open)" : "bend (close)";
      fix = {
        part: worst, joint, mean_error_deg: round(worstErr, 2),
        advice: `${action} your ${joint.replace(/_/g, " ")} more`,
      };
    }
    return { overall: round(total / path.length, 4), unaligned: round(unaligned, 4), frames, joints, fix };
  }

  /** Frames of a trainer_poses.json document: [{frame, landmarks, visibility}] (nulls kept). */
  function fromPosesJson(doc) {
    return doc.poses.map((p, row) =>
      p === null ? null : { frame: p.frame === undefined ? row : p.frame, landmarks: p.joints_3d, visibility: p.visibility }
    );
  }

  function prepare(frames, maxFrames) {
    const out = { frames: [], feats: [] };
    frames.forEach((f, row) => {
      if (f === null || f === undefined) return;
      const lm = Array.isArray(f) ? f : f.landmarks;
      out.frames.push(Array.isArray(f) || f.frame === undefined ? row : f.frame);
      out.feats.push(features(lm, Array.isArray(f) ? null : f.visibility));
    });
    if (out.feats.length === 0) throw new Error("no frame with a person to compare");
    const stride = Math.max(1, Math.ceil(out.feats.length / maxFrames));
    if (stride > 1) {
      out.frames = out.frames.filter((_, k) => k % stride === 0);
      out.feats = out.feats.filter((_, k) => k % stride === 0);
    }
    return out;
  }

  /**
   * Compare two sequences. Each frame is null (nobody), an array of 33 landmarks, or
   * {frame, landmarks, visibility}. Returns {overall, unaligned, frames, joints, fix, mirrored}.
   */
  function compareSequences(trainerFrames, userFrames, options) {
    const mode = (options && options.mirror) || "auto";
    const maxFrames = (options && options.maxFrames) || 600;
    const T = prepare(trainerFrames, maxFrames), U = prepare(userFrames, maxFrames);
    const results = [];
    if (mode !== "on") results.push([false, score(T, U)]);
    if (mode !== "off") {
      results.push([true, score(T, { frames: U.frames, feats: U.feats.map(mirrored) })]);
    }
    let best = results[0];
    for (const r of results) if (r[1].overall > best[1].overall) best = r;
    const out = best[1];
    out.mirrored = best[0];
    out.angles = ANGLE_NAMES;
    out.tolerance_deg = TOLERANCE_DEG;
    return out;
  }

  return { ANGLE_NAMES, features, frameScore, compareSequences, fromPosesJson };
});
