"""Convert the .npz written by gen_muon_images.py (`--kind muon-calo`, the default) or
gen_jet_images.py (`--kind jet-image`) into hep-data's `images-v1` Parquet, driven by
`cargo xtask data muon-images` / `data jet-images`: label, muon_pt (muon images only), and
each image as sparse lists of increasing row-major pixel indices (uint16) and values
(float32); metadata image.kind / height / width / pixel_size and the generator's record as
hep-data.provenance.

Usage: images_to_parquet.py SRC.npz OUT.parquet EXTRA_JSON [--kind muon-calo|jet-image]"""
import argparse
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("extra", help="JSON object merged into the provenance record")
    ap.add_argument("--kind", choices=["muon-calo", "jet-image"], default="muon-calo")
    a = ap.parse_args()
    src, out, extra = a.src, a.out, json.loads(a.extra)
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
    columns = {"label": pa.array(z["label"].astype(np.uint8), pa.uint8())}
    if a.kind == "muon-calo":
        prov = dict(extra, generator_args=meta)
        columns["muon_pt"] = pa.array(z["mu_pt"].astype(np.float32), pa.float32())
        pixel_size = "0.025"
    else:  # jet images carry no per-image scalar: the reader treats muon_pt as absent
        prov = dict(extra, generator=meta)
        pixel_size = f"{float(z['pixel_size']):.6g}"
    columns["pixel"] = pa.array(pix, pa.list_(pa.uint16()))
    columns["value"] = pa.array(val, pa.list_(pa.float32()))
    table = pa.table(columns)
    schema = table.schema.with_metadata({
        "hep-data.format": "images-v1", "image.kind": a.kind, "image.height": str(h),
        "image.width": str(w), "image.pixel_size": pixel_size,
        "hep-data.provenance": json.dumps(prov),
    })
    fields = [f.with_nullable(False) for f in schema]
    table = table.cast(pa.schema(fields, metadata=schema.metadata))
    pq.write_table(table, out, compression="zstd", compression_level=9)
    print(json.dumps({"images": n, "zero_pixel_frac": float((imgs == 0).mean()), "out": out}))


if __name__ == "__main__":
    main()
