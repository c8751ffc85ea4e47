#!/usr/bin/env bash
# The GPU checks as one script (about 8 minutes on an H200), for a session that has a GPU lent:
# the tests that use the GPU or several processes, then issue 20's two benchmark settings. The
# results files go to $OUT when it is set (the device tool brings that folder back), else to
# benchmarks/results. Needs torch, torchvision, scikit-image, scikit-learn and pytest; not fastai.
set -u
export PYTHONPATH="$PWD"
out="${OUT:-benchmarks/results}"
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" || exit 1
python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_train.py tests/test_distributed.py \
    tests/test_color.py tests/test_models.py 2>&1 | tail -n 15
for setting in "" "--batch 64 --compile"; do
    # shellcheck disable=SC2086  # the setting is meant to split into words
    python3 benchmarks/train_step.py $setting --rounds 3 --out "$out" 2>&1 | tail -n 16
done
