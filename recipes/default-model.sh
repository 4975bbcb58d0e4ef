#!/usr/bin/env bash
# The recipe of the shipped default model (sorakit/assets/default-model): every command, in
# order, from an empty outputs/ folder. Run from the repository root after the README's set-up.
# Wall times are for a 2-core laptop CPU; the transformer is the long part.
set -euo pipefail
S=".venv/bin/sorakit"
PY=".venv/bin/python"
VAE_STEPS="${VAE_STEPS:-500}"
DIT_STEPS="${DIT_STEPS:-750}"

# 1. World clips for the VAE: five aspect ratios, images and videos; last 300 held out.
$S data synth --out outputs/vae-data --num 3000 --seed 1 \
  --size 64x64,64x48,48x64,72x40,40x72 --fps 8 --frames 1,9,17
head -2700 outputs/vae-data/manifest.jsonl > outputs/vae-data/train.jsonl
tail -300 outputs/vae-data/manifest.jsonl > outputs/vae-data/val.jsonl

# 2. The VAE (preset "world": 4x space, 4x time, 16 channels).
$S train-vae --manifest outputs/vae-data/train.jsonl --val-manifest outputs/vae-data/val.jsonl \
  --out outputs/vae-s4 --steps "$VAE_STEPS" --lr 6e-4

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

# 4. Latents and caption embeddings, once.
$S preprocess --manifest outputs/dit-train.jsonl --vae outputs/vae-s4/model --out outputs/dit-cache

# 5. The transformer (preset "world": about 4.2M parameters, packed 2048-token sequences).
$S train --data outputs/dit-cache --out outputs/dit-run --steps "$DIT_STEPS"

# 6. The model folder, then its evaluation.
$S build-model --vae outputs/vae-s4/model --transformer outputs/dit-run/model \
  --out sorakit/assets/default-model --recipe recipes/default-model.sh
$S eval world --model default --out outputs/eval-default
