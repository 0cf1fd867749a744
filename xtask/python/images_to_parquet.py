"""Convert the .npz written by gen_muon_images.py into hep-data's `images-v1` Parquet
(driven by `cargo xtask data muon-images`): label, muon_pt, and each image as sparse lists of
increasing row-major pixel indices (uint16) and values (float32); metadata image.kind /
height / width / pixel_size and the generator's record as hep-data.provenance."""
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main():
    src, out, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    z = np.load(src, allow_pickle=False)
    imgs = z["images"].astype(np.float32)
    n, h, w = imgs.shape
    flat = imgs.reshape(n, h * w)
    pix, val = [], []
    for row in flat:
        nz = np.nonzero(row)[0]
        pix.append(nz.astype(np.uint16))
        val.append(row[nz])
    meta = json.loads(str(z["meta"]))
    prov = dict(extra, generator_args=meta, iso02=None)
    prov.pop("iso02")
    table = pa.table({
        "label": pa.array(z["label"].astype(np.uint8), pa.uint8()),
        "muon_pt": pa.array(z["mu_pt"].astype(np.float32), pa.float32()),
        "pixel": pa.array(pix, pa.list_(pa.uint16())),
        "value": pa.array(val, pa.list_(pa.float32())),
    })
    schema = table.schema.with_metadata({
        "hep-data.format": "images-v1", "image.kind": "muon-calo", "image.height": str(h),
        "image.width": str(w), "image.pixel_size": "0.025",
        "hep-data.provenance": json.dumps(prov),
    })
    fields = [f.with_nullable(False) for f in schema]
    table = table.cast(pa.schema(fields, metadata=schema.metadata))
    pq.write_table(table, out, compression="zstd", compression_level=9)
    print(json.dumps({"images": n, "zero_pixel_frac": float((imgs == 0).mean()), "out": out}))


if __name__ == "__main__":
    main()
