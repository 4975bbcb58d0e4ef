#!/usr/bin/env bash
# The recipe of the shipped default model (sorakit/assets/default-model): every command, in
# order, from an empty outputs/ folder. Run from the repository root after the README's set-up.
# Wall times are for a 2-core laptop CPU; the transformer is the long part.
set -euo pipefail
S=".venv/bin/sorakit"
PY=".venv/bin/python"
VAE_STEPS="${VAE_STEPS:-1200}"
DIT_STEPS="${DIT_STEPS:-750}"        # text-only transformer
LAYOUT_STEPS="${LAYOUT_STEPS:-1750}" # then with layout input (planning)
TUNE_STEPS="${TUNE_STEPS:-2000}"     # then on the continued VAE's latents
FILL_STEPS="${FILL_STEPS:-3000}"     # then with layout cells covered by outlines, not boxes
DECODER_STEPS="${DECODER_STEPS:-1200}" # the VAE's decoder alone, on the finished latent space
DECODER2_STEPS="${DECODER2_STEPS:-1500}" # and once more, at a lower rate
DECODER3_STEPS="${DECODER3_STEPS:-7000}" # then grown to three blocks a level ("world-per-frame-deep")
TR_STEPS="${TR_STEPS:-6000}"         # temporal refiner
TR_OW_STEPS="${TR_OW_STEPS:-2000}"   # then with objects weighted
TR_MC_STEPS="${TR_MC_STEPS:-3000}"   # then once more (the measured run: its first time on midpoints)
LAYOUT_REFINER_STEPS="${LAYOUT_REFINER_STEPS:-2000}" # refiners that follow the plan too
SR_STEPS="${SR_STEPS:-4000}"         # spatial refiner
PB_STEPS="${PB_STEPS:-2000}"         # refiners from the transformer, input blurred (shipped: then
PBK_STEPS="${PBK_STEPS:-1500}"       # more, blurred only where the layout stays)

# 1. World clips for the VAE: five aspect ratios, images and videos; last 300 held out.
$S data synth --out outputs/vae-data --num 3000 --seed 1 \
  --size 64x64,64x48,48x64,72x40,40x72 --fps 8 --frames 1,9,17
head -2700 outputs/vae-data/manifest.jsonl > outputs/vae-data/train.jsonl
tail -300 outputs/vae-data/manifest.jsonl > outputs/vae-data/val.jsonl

# 2. The VAE (preset "world-per-frame": 4x space, 4x time, 16 channels, the colour shortcut per frame),
#    3e-4 with 100 warm-up steps and cosine decay (train-vae's defaults).
$S train-vae --manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl \
  --out outputs/vae-f --model world-per-frame --steps "$VAE_STEPS" --lr 3e-4 --warmup 100 \
  --lr-decay cosine --checkpoint-every 100

# 2b. The VAE continued from vae-f's last checkpoint into outputs/vae-f2, in the stages it was
#     run: towards 3200 steps (stopped at 1241), towards 2600 (stopped at 1791), then to 2400
#     with the edge term (L1 of spatial gradients, for the outlines of small objects). Each
#     resume follows the new --steps' cosine schedule from the step it stops at.
mkdir -p outputs/vae-f2/checkpoints
cp -r outputs/vae-f/checkpoints/step-0001200 outputs/vae-f2/checkpoints/
VAE2=(--manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl
  --out outputs/vae-f2 --model world-per-frame --lr 3e-4 --warmup 100 --lr-decay cosine
  --checkpoint-every 100)
$S train-vae "${VAE2[@]}" --steps 3200 --stop-after 1241
$S train-vae "${VAE2[@]}" --steps 2600 --stop-after 1791
$S train-vae "${VAE2[@]}" --steps 2400 --edge-weight 0.3

# 2c. vae-f2's decoder alone fine-tuned (encoder and latent normalisation frozen, so every
#     latent below, and every transformer trained on them, stays valid): outputs/vae-f3, then
#     its decoder again at a lower rate: outputs/vae-f4, then grown to three residual blocks a
#     decoder level (the new blocks start as the identity) and trained on: outputs/vae-fd, the
#     shipped VAE. About four hours.
$S train-vae --manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl \
  --out outputs/vae-f3 --model world-per-frame --init outputs/vae-f2/model --decoder-only \
  --steps "$DECODER_STEPS" --lr 2e-4 --warmup 50 --lr-decay cosine --edge-weight 0.3 \
  --checkpoint-every 100
$S train-vae --manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl \
  --out outputs/vae-f4 --model world-per-frame --init outputs/vae-f3/model --decoder-only \
  --steps "$DECODER2_STEPS" --lr 1.5e-4 --warmup 50 --lr-decay cosine --edge-weight 0.3 \
  --checkpoint-every 100
$S train-vae --manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl \
  --out outputs/vae-fd --model world-per-frame-deep --init outputs/vae-f4/model --decoder-only \
  --steps "$DECODER3_STEPS" --lr 2e-4 --warmup 50 --lr-decay cosine --edge-weight 0.3 \
  --checkpoint-every 100

# 3. Clips for the transformer: mixed sizes, 8 and 16 fps, images, 9 and 17 frames, plus more
#    at the evaluation's own setting (64x64, 8 fps, 17 frames).
$S data synth --out outputs/dit-data --num 6000 --seed 7 \
  --size 64x64,64x48,48x64,72x40,40x72 --fps 8,16 --frames 1,9,17
$S data synth --out outputs/dit-data64 --num 2204 --seed 11 --size 64x64 --fps 8 \
  --frames 17,17,17,9,1
$PY - <<'PY'
import json, pathlib
out = pathlib.Path("outputs/dit-train.jsonl")
with out.open("w") as f:
    for folder in ("outputs/dit-data", "outputs/dit-data64"):
        for line in open(f"{folder}/manifest.jsonl"):
            row = json.loads(line)
            row["path"] = str((pathlib.Path(folder) / row["path"]).resolve())
            row.pop("annotation", None)
            f.write(json.dumps(row) + "\n")
PY

# 4. Latents and caption embeddings, once per VAE: vae-f's for the first two transformer
#    stages, vae-f2's for the last.
$S preprocess --manifest outputs/dit-train.jsonl --vae outputs/vae-f/model --out outputs/dit-cache-f
$S preprocess --manifest outputs/dit-train.jsonl --vae outputs/vae-f2/model --out outputs/dit-cache-f2

# 5. The transformer (about 4.2M parameters, packed 2048-token sequences): first text only
#    (model "world-text"), then with layout maps from the clips' annotations, one occupancy
#    channel per pixel frame (model "world-layout-per-frame"; the layout dropped for half the
#    clips), starting from those weights; then on vae-f2's latents, from those weights again, with cosine decay;
#    then with layout cells covered by each object's outline instead of its box (model
#    "world-layout-outline"), from those weights, with cosine decay (75 min).
$S train --data outputs/dit-cache-f --out outputs/dit-run-f --model world-text --steps "$DIT_STEPS"
$S train --data outputs/dit-cache-f --out outputs/dit-layout-lf --model world-layout-per-frame \
  --init outputs/dit-run-f/model --steps "$LAYOUT_STEPS" --checkpoint-every 100
$S train --data outputs/dit-cache-f2 --out outputs/dit-layout-lf2 --model world-layout-per-frame \
  --init outputs/dit-layout-lf/model --steps "$TUNE_STEPS" --lr-decay cosine --checkpoint-every 100
$S train --data outputs/dit-cache-f2 --out outputs/dit-layout-lfs --model world-layout-outline \
  --init outputs/dit-layout-lf2/model --steps "$FILL_STEPS" --lr-decay cosine --checkpoint-every 100

# 6. The model folder, then its evaluation (text-only and planned, side by side). When it
#    renders a plan it guides only at t <= 0.6: at higher noise guidance multiplied the whole
#    scene's difference from the unconditional prediction and overshot colours (BENCHMARKS.md).
#    (Step 8 builds it again with the refiners; the base and these settings stay.)
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --out sorakit/assets/default-model --recipe recipes/default-model.sh \
  --plan-guidance-interval 0,0.6
$S eval world --model default --no-planning --seeds 4 --out outputs/eval-text
$S eval world --model default --planning --seeds 4 --out outputs/eval-planned

# 7. The cascade's refiners, from the shipped transformer's weights. Only the last pair
#    (sr-run-pbk, tr-run-pbk) ships (step 8): with them the cascade scores at least as well as
#    the base run directly on eval world; the runs before them are kept as measured.
#    Temporal: 16 fps clips of step 3 with their every-other-frame halves, then fine-tuned with
#    the tokens objects cover weighted five times. Spatial: new clips at twice the size, with the
#    same scenes rendered at half size. The caches need only the encoder, which every VAE from
#    vae-f2 on shares. The two long runs went side by side, a thread each (about 50 minutes).
#    History: tr-run and tr-run-ow as measured were trained before the temporal input became
#    motion-compensated midpoints (they read blends, which the code no longer makes); tr-run-mc,
#    3000 steps more, was their first time on midpoints. Run again, all three read midpoints.
#    Last, both refiners once more with the plan's layout as an input (world-refiner-layout;
#    the new layout layer starts at zero): measured, not better on eval world (BENCHMARKS.md).
$PY - <<'PY'
import json
rows = [json.loads(line) for line in open("outputs/dit-train.jsonl")]
keep = [r for r in rows if r["fps"] == 16.0 and r["num_frames"] in (9, 17)][:1500]
with open("outputs/tr-train.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in keep)
PY
$S preprocess --manifest outputs/tr-train.jsonl --out outputs/tr-cache --vae outputs/vae-fd/model \
  --refiner temporal
$S data synth --out outputs/sr-data --num 800 --size 128x128,96x128,128x96 --fps 16 \
  --frames 1,9 --seed 77
$S preprocess --manifest outputs/sr-data/manifest.jsonl --out outputs/sr-cache \
  --vae outputs/vae-fd/model --buckets world128 --refiner spatial
REFINER=(--preset world-refiner --pack-tokens 1024 --lr-decay cosine --checkpoint-every 100 --threads 1)
$S train --data outputs/tr-cache --out outputs/tr-run "${REFINER[@]}" \
  --init sorakit/assets/default-model/transformer --steps "$TR_STEPS" --lr 3e-4
$S train --data outputs/sr-cache --out outputs/sr-run "${REFINER[@]}" \
  --init sorakit/assets/default-model/transformer --steps "$SR_STEPS" --lr 3e-4
$S train --data outputs/tr-cache --out outputs/tr-run-ow "${REFINER[@]}" \
  --init outputs/tr-run/model --steps "$TR_OW_STEPS" --lr 1.5e-4 --warmup 50 --object-weight 4
$S train --data outputs/tr-cache --out outputs/tr-run-mc "${REFINER[@]}" \
  --init outputs/tr-run-ow/model --steps "$TR_MC_STEPS" --lr 1.5e-4 --warmup 50 --object-weight 4
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run/model --temporal-refiner outputs/tr-run-mc/model \
  --out outputs/model-cascade-mc --recipe recipes/default-model.sh --plan-guidance-interval 0,0.6
$S train --data outputs/sr-cache --out outputs/sr-run-lay "${REFINER[@]}" \
  --model world-refiner-layout --init outputs/sr-run/model --steps "$LAYOUT_REFINER_STEPS" \
  --lr 3e-4 --warmup 50
$S train --data outputs/tr-cache --out outputs/tr-run-lay "${REFINER[@]}" \
  --model world-refiner-layout --init outputs/tr-run-mc/model --steps "$LAYOUT_REFINER_STEPS" \
  --lr 3e-4 --warmup 50 --object-weight 4
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run-lay/model --temporal-refiner outputs/tr-run-lay/model \
  --out outputs/model-cascade-lay --recipe recipes/default-model.sh --plan-guidance-interval 0,0.6
# The same, its spatial refiner trusting its input less (and so the plan more): chosen on a
# tuning copy of the cascade suite (BENCHMARKS.md).
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run-lay/model --temporal-refiner outputs/tr-run-lay/model \
  --out outputs/model-cascade-lay-a5 --recipe recipes/default-model.sh \
  --plan-guidance-interval 0,0.6 --refiner-aug spatial=0.5
# Refiners that draw what the plan says (the shipped ones): started from the shipped
#    transformer, whose layout layers know the plan (the input layer starts at zero), with their
#    input blurred over 4x4 latent cells half the time (--input-pool), so that shapes and places
#    come from the plan where a half-size base blurs them; then 1500 steps more with the blur
#    only where the clip keeps its layout (dropped half the time), so that without a plan they
#    still trust their input. Run as measured with --threads 2, one run at a time (about 10
#    minutes each). History: sr-run-pb and tr-run-pb as measured were trained while the blur
#    also hit clips without their layout (commit e85758f); today's code blurs only where the
#    layout stays, in these runs too.
PB=(--model world-refiner-layout --object-weight 4 --input-pool 0.5 --warmup 50)
$S train --data outputs/sr-cache --out outputs/sr-run-pb "${REFINER[@]}" "${PB[@]}" \
  --init outputs/dit-layout-lfs/model --steps "$PB_STEPS" --lr 3e-4 --layout-dropout 0.3
$S train --data outputs/tr-cache --out outputs/tr-run-pb "${REFINER[@]}" "${PB[@]}" \
  --init outputs/dit-layout-lfs/model --steps "$PB_STEPS" --lr 3e-4 --layout-dropout 0.3
$S train --data outputs/sr-cache --out outputs/sr-run-pbk "${REFINER[@]}" "${PB[@]}" \
  --init outputs/sr-run-pb/model --steps "$PBK_STEPS" --lr 1.5e-4
$S train --data outputs/tr-cache --out outputs/tr-run-pbk "${REFINER[@]}" "${PB[@]}" \
  --init outputs/tr-run-pb/model --steps "$PBK_STEPS" --lr 1.5e-4
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run-pb/model --temporal-refiner outputs/tr-run-pb/model \
  --out outputs/model-cascade-pb2 --recipe recipes/default-model.sh --plan-guidance-interval 0,0.6

# 8. The shipped model again, now with the refiners of step 7 (same base, same settings), and
#    the cascade's evaluation at twice the size and frame rate, beside the base run directly.
#    Without a plan (text-only prompts, `interpolate`) tr-run-mc runs instead of tr-run-pbk:
#    pbk places objects worse than blending when it has no plan (BENCHMARKS.md, the cascade).
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run-pbk/model --temporal-refiner outputs/tr-run-pbk/model \
  --temporal-refiner-text-only outputs/tr-run-mc/model \
  --out sorakit/assets/default-model --recipe recipes/default-model.sh \
  --plan-guidance-interval 0,0.6
$S eval world --model default --suite cascade --refiners --seeds 8 --out outputs/eval-c16-cascade
$S eval world --model default --suite cascade --no-refiners --seeds 8 \
  --out outputs/eval-c16-direct
$S eval world --model default --suite cascade --refiners --no-planning --seeds 4 \
  --out outputs/eval-c8-text-cascade
$S eval world --model default --suite cascade --no-refiners --no-planning --seeds 4 \
  --out outputs/eval-c8-text-direct

# 9. No training: the same parts, rendering plans with shape contrast (a third pass that pushes
#    each small, still disc away from a square at 0.3 <= t <= 0.6, scale 6; chosen on the eval
#    suite's tuning copy: below t = 0.3 the push erodes the disc, BENCHMARKS.md "Shape
#    contrast"). Only pipeline.json changes.
$S build-model --vae outputs/vae-fd/model --transformer outputs/dit-layout-lfs/model \
  --spatial-refiner outputs/sr-run-pbk/model --temporal-refiner outputs/tr-run-pbk/model \
  --temporal-refiner-text-only outputs/tr-run-mc/model \
  --out sorakit/assets/default-model --recipe recipes/default-model.sh \
  --plan-guidance-interval 0,0.6 --shape-contrast 6 --shape-contrast-interval 0.3,0.6
$S eval world --model default --planning --seeds 4 --out reports/default-model-eval
$S eval world --model default --planning --seeds 8 --out outputs/eval-planned-s8-sc2
$S eval world --model default --suite cascade --refiners --seeds 8 --out reports/cascade-eval

# 10. The distilled sampler (docs/realtime.md): the shipped transformer run by its full guided
#     sampler (32 Euler steps, guidance and shape contrast as step 9 set them) on 1200 training
#     captions of scenes 50000 on (55% planned, 30% text only, 15% from a given first frame),
#     kept at 17 times (53 minutes); then the same transformer with a step-size input trained on
#     the jumps between kept states, bf16 on a CPU with AMX (30 minutes; as measured, started
#     towards 1500 steps, stopped at 169 and resumed towards 900, which this reproduces but for
#     the learning-rate schedule over steps 0 to 169); then made the default at 4 steps.
$S distill trajectories --out outputs/distill-traj --num 1200 --seed 50000
$S distill train --trajectories outputs/distill-traj --out outputs/distill-run --steps 900
$S distill install --student outputs/distill-run/model --into sorakit/assets/default-model --steps 4
