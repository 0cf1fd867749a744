"""numpy default_rng reference draws for hep_data::rng (cargo xtask fixtures rng)."""
import json

import numpy as np

out = {"provenance": f"cargo xtask fixtures rng; numpy {np.__version__}", "cases": []}
for seed in (0, 1, 42, 12345, 2**32 + 7, 2**40 + 5):
    case = {"seed": seed}
    r = np.random.default_rng(seed)
    case["raw_u64"] = [str(int(x)) for x in r.bit_generator.random_raw(4)]
    r = np.random.default_rng(seed)
    case["permutation_10"] = r.permutation(10).tolist()
    r = np.random.default_rng(seed)
    case["permutation_1000_head"] = r.permutation(1000)[:20].tolist()
    r = np.random.default_rng(seed)
    # interleaved draws as the jetnet bootstrap makes them
    case["choice_50000_8"] = r.choice(50000, 8).tolist()
    case["choice_7_5"] = r.choice(7, 5).tolist()
    case["integers_2p40_3"] = [str(int(x)) for x in r.integers(0, 2**40, 3)]
    case["choice_3_4"] = r.choice(3, 4).tolist()
    case["random_3"] = r.random(3).tolist()
    out["cases"].append(case)
out["permutation_880000"] = {
    "seed": 42,
    "head": np.random.default_rng(42).permutation(880000)[:10].tolist(),
    "tail": np.random.default_rng(42).permutation(880000)[-3:].tolist(),
}
print(json.dumps(out, indent=1))
