#!/usr/bin/env python3
"""Turns the raw outputs of bench/images/run.sh into results.md and results.json.

Usage: report.py OUTDIR VIPS_FILES

Rates are given twice: per wall-clock second and per CPU second (user+system
of the measured process). Every measured process is pinned to one CPU, so on
a quiet machine both agree; on a shared one the CPU-time rate is the per-core
cost and the ratios use it. For the tools run several times (vipsthumbnail,
the 100 MP case) the best run counts, which favours the other tools.
"""
import json
import os
import re
import sys


def rows(path):
    with open(path) as f:
        return [list(map(float, line.split())) for line in f if line.strip()]


def main():
    out, vips_files = sys.argv[1], int(sys.argv[2])
    j = lambda name: json.load(open(os.path.join(out, name)))
    ufop_p, plain_p = j("ufop-portrait.json"), j("plain-portrait.json")
    with open(os.path.join(out, "ufop-huge.jsonl")) as f:
        ufop_h = min((json.loads(line) for line in f if line.strip()), key=lambda r: r["ms_per_op"])

    portrait = {}  # tool -> (images/s wall, images/s cpu)
    portrait["ufop"] = (1000 / ufop_p["ms_per_op"], 1000 / ufop_p["cpu_ms_per_op"])
    portrait["plain Go"] = (1000 / plain_p["ms_per_op"], 1000 / plain_p["cpu_ms_per_op"])
    vp = rows(os.path.join(out, "vips-portrait"))  # wall_ms cpu_ms rss_kb per call
    portrait["vipsthumbnail"] = (vips_files * 1000 / min(r[0] for r in vp), vips_files * 1000 / min(r[1] for r in vp))
    for kind in ("crop", "resize"):
        wrk = open(os.path.join(out, f"wrk-{kind}.txt")).read()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
        n, cpu_ms = rows(os.path.join(out, f"nginx-{kind}-cpu.txt"))[0]
        portrait[f"nginx {kind}"] = (rps, n * 1000 / cpu_ms)

    huge = {}  # tool -> (wall s, cpu s, peak rss MB)
    for tool, name in (("ufop", "ufop-huge"), ("vipsthumbnail", "vips-huge"), ("plain Go", "plain-huge")):
        r = rows(os.path.join(out, name))
        huge[tool] = (min(x[0] for x in r) / 1000, min(x[1] for x in r) / 1000, max(x[2] for x in r) / 1024)

    ratios = {
        "portrait_ufop_over_vips": portrait["ufop"][1] / portrait["vipsthumbnail"][1],
        "portrait_ufop_over_nginx_crop": portrait["ufop"][1] / portrait["nginx crop"][1],
        "portrait_ufop_over_vips_wall": portrait["ufop"][0] / portrait["vipsthumbnail"][0],
        "portrait_ufop_over_nginx_crop_wall": portrait["ufop"][0] / portrait["nginx crop"][0],
        "huge_ufop_over_vips_wall": huge["ufop"][0] / huge["vipsthumbnail"][0],
        "huge_ufop_over_vips_cpu": huge["ufop"][1] / huge["vipsthumbnail"][1],
    }
    targets = [
        ("portrait rate >= 1.0x vipsthumbnail (CPU time)", ratios["portrait_ufop_over_vips"] >= 1.0,
         f'{ratios["portrait_ufop_over_vips"]:.2f}x'),
        ("portrait rate >= 1.2x nginx image_filter crop (CPU time)", ratios["portrait_ufop_over_nginx_crop"] >= 1.2,
         f'{ratios["portrait_ufop_over_nginx_crop"]:.2f}x'),
        ("100 MP wall <= 2x vipsthumbnail", ratios["huge_ufop_over_vips_wall"] <= 2.0,
         f'{ratios["huge_ufop_over_vips_wall"]:.2f}x'),
        ("100 MP CPU time <= 2x vipsthumbnail", ratios["huge_ufop_over_vips_cpu"] <= 2.0,
         f'{ratios["huge_ufop_over_vips_cpu"]:.2f}x'),
        ("100 MP peak RSS <= 150 MB", huge["ufop"][2] <= 150, f'{huge["ufop"][2]:.0f} MB'),
    ]
    json.dump({"portrait_fill_200": {k: {"images_per_s_wall": v[0], "images_per_s_cpu": v[1]} for k, v in portrait.items()},
               "huge_fit_500": {k: {"wall_s": v[0], "cpu_s": v[1], "peak_rss_mb": v[2]} for k, v in huge.items()},
               "ufop_huge_in_process_ms": ufop_h["ms_per_op"],
               "ratios": ratios,
               "targets": {n: {"met": ok, "value": v} for n, ok, v in targets}},
              open(os.path.join(out, "results.json"), "w"), indent=2)

    label = {
        "ufop": "ufop `imageView2/1/w/200/h/200` (GOMAXPROCS=1)",
        "vipsthumbnail": f"vipsthumbnail `-s 200x200 -m centre` (VIPS_CONCURRENCY=1, {vips_files} files per call, best of 3)",
        "nginx crop": "nginx `image_filter crop 200 200` (1 worker, wrk -c4)",
        "nginx resize": "nginx `image_filter resize 200 200` (1 worker, wrk -c4)",
        "plain Go": "plain Go: image/jpeg + imaging.Fill Lanczos + encode (GOMAXPROCS=1)",
    }
    lines = ["| portrait.jpg 800x533 -> 200x200 fill | images/s per CPU-s | ms CPU/image | images/s wall |",
             "|---|---:|---:|---:|"]
    for k in ("ufop", "vipsthumbnail", "nginx crop", "nginx resize", "plain Go"):
        w, c = portrait[k]
        lines.append(f"| {label[k]} | {c:.1f} | {1000 / c:.1f} | {w:.1f} |")
    lines += ["", "| 9643x10328.jpg (100 MP) -> 500x500 fit, one process each, best run | wall s | CPU s | peak RSS MB |",
              "|---|---:|---:|---:|",
              f'| ufop `imageView2/2/w/500/h/500` (GOMAXPROCS=1; best {ufop_h["ms_per_op"] / 1000:.3f} s wall in the op) '
              f'| {huge["ufop"][0]:.3f} | {huge["ufop"][1]:.3f} | {huge["ufop"][2]:.0f} |',
              f'| vipsthumbnail `-s 500x500` (VIPS_CONCURRENCY=1) | {huge["vipsthumbnail"][0]:.3f} '
              f'| {huge["vipsthumbnail"][1]:.3f} | {huge["vipsthumbnail"][2]:.0f} |',
              f'| plain Go: image/jpeg + imaging.Fit Lanczos + encode (GOMAXPROCS=1, one run) | {huge["plain Go"][0]:.3f} '
              f'| {huge["plain Go"][1]:.3f} | {huge["plain Go"][2]:.0f} |',
              "", "| target | measured | met |", "|---|---:|:---:|"]
    lines += [f"| {n} | {v} | {'yes' if ok else 'NO'} |" for n, ok, v in targets]
    loads = [l.strip() for l in open(os.path.join(out, "env.txt")) if "load average" in l]
    lines += ["", "Machine load during the run (uptime): " + "; ".join(loads)]
    text = "\n".join(lines) + "\n"
    open(os.path.join(out, "results.md"), "w").write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
