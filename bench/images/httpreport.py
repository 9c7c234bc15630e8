#!/usr/bin/env python3
"""Table of bench/images/http.sh: python3 httpreport.py OUT_DIR VIPS_FILES."""
import json, statistics, sys

out, files = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in open(f"{out}/results.jsonl")]
by = {}
for r in rows:
    by.setdefault(r["case"], []).append(r)

def med(xs):
    return statistics.median(xs)

print("| round | load | ufop portrait req/s wall | req/s per CPU-s | vips img/s wall | img/s per CPU-s | ratio wall | ratio CPU |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
ratios, cratios = [], []
for u, v in zip(by.get("ufop-portrait", []), by.get("vips-portrait", [])):
    uw, uc = u["r"]["req_per_s"], u["r"]["req_per_server_cpu_s"]
    vw = files / (v["r"]["wall_ms"] / 1000)
    vc = files / (v["r"]["cpu_ms"] / 1000)
    ratios.append(uw / vw); cratios.append(uc / vc)
    print(f"| {u['round']} | {u['load']} | {uw:.1f} | {uc:.1f} | {vw:.1f} | {vc:.1f} | {uw/vw:.2f}x | {uc/vc:.2f}x |")
if ratios:
    print(f"\nportrait: median ratio wall {med(ratios):.2f}x, per CPU-s {med(cratios):.2f}x")

print("\n| round | ufop 100 MP wall s/req | CPU s/req | ufop peak RSS MB | vips wall s (runs) | vips CPU s | vips RSS MB |")
print("|---|---:|---:|---:|---|---:|---:|")
hr, hc = [], []
for u in by.get("ufop-huge", []):
    vs = [v for v in by.get("vips-huge", []) if v["round"] == u["round"]]
    uw = u["r"]["wall_s"] / u["r"]["n"]
    uc = u["r"]["server_cpu_ms_per_req"] / 1000
    vw = med([v["r"]["wall_ms"] / 1000 for v in vs])
    vc = med([v["r"]["cpu_ms"] / 1000 for v in vs])
    hr.append(uw / vw); hc.append(uc / vc if vc else 0)
    print(f"| {u['round']} | {uw:.3f} | {uc:.3f} | {u['r']['peak_rss_mb']:.0f} | {vw:.3f} ({', '.join(str(v['r']['wall_ms']) for v in vs)} ms) | {vc:.3f} | {max(v['r']['max_rss_mb'] for v in vs):.0f} |")
if hr:
    print(f"\n100 MP: median ratio wall {med(hr):.2f}x, CPU {med(hc):.2f}x")
for c in by.get("ufop-huge-concurrent", []):
    r = c["r"]
    print(f"\n{r['n']} concurrent 100 MP requests (c={r['c']}): all 200, wall {r['wall_s']:.2f} s, max latency {r['max_ms']:.0f} ms, whole-process peak RSS {r['peak_rss_mb']:.0f} MB (reset before: {r['peak_reset']})")

try:
    q = [json.loads(l) for l in open(f"{out}/quality.jsonl")]
except FileNotFoundError:
    q = []
if q:
    print("\n| q80 thumbnail | size | bytes | PSNR dB | SSIM |")
    print("|---|---|---:|---:|---:|")
    for s in q:
        print(f"| {s['file'].rsplit('/', 1)[-1]} | {s['w']}x{s['h']} | {s['bytes']} | {s['psnr_db']:.2f} | {s['ssim']:.4f} |")
