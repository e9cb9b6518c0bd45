#!/usr/bin/env bash
# Benchmark: composing a ~300-page bid with CJK text and images (`bidseal project compose`,
# release build) against LibreOffice converting an equivalent document (same cover/letter
# text, the same ~290 pages of chapter prose and the same images, as HTML) to PDF, in the same
# run. Reports wall time, peak RSS (/usr/bin/time -v), output size, pages and embedded font
# bytes, and the ratios. The composed bid's font must be a subset under 1 MB.
#
# Usage: bench/compose.sh [CHAPTER_PARAGRAPHS]   (default 3200 ≈ 300 pages). Needs the
# scripts/setup.sh tools (ImageMagick, qpdf, poppler, libreoffice).
set -euo pipefail
PARAS=${1:-3200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/bidseal/target}
WORK=$(mktemp -d /tmp/bidseal-bench-compose.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && cargo build --release -q -p bidseal --bin bidseal)
BIN=$CARGO_TARGET_DIR/release/bidseal
DEMO=$ROOT/assets/demo-tender
cd "$WORK"
export BIDSEAL_INDEX=$WORK/index.sqlite

# Sources: 24 images and a long chapter (GB2312 text), written once, used by both sides.
mkdir -p src/img
for i in $(seq 1 24); do
  convert -size 1200x700 "plasma:fractal" -seed "$i" -blur 0x2 -fill white -pointsize 48 \
    -annotate +40+80 "Figure $i" -depth 8 "src/img/fig$i.png"
done
python3 - "$PARAS" <<'PY'
import sys, random, html
paras = int(sys.argv[1])
rnd = random.Random(6)
words = ("项目部 施工 质量 安全 进度 管理 混凝土 钢筋 模板 脚手架 监理 验收 检测 材料 设备 人员 "
         "组织 措施 计划 方案 工序 节点 控制 保证 体系 制度 责任 文明 环境 保护 技术 交底 测量 放线 "
         "基础 主体 结构 装饰 安装 给排水 电气 消防 通风 屋面 防水 门窗 幕墙 道路 绿化 竣工 资料").split()
md, body = [], []
fig = 0
for i in range(paras):
    if i % 40 == 0:
        t = f"第{i // 40 + 1}节 施工组织与技术措施"
        md.append(f"## {t}\n")
        body.append(f"<h2>{html.escape(t)}</h2>")
    s = "".join(rnd.choice(words) for _ in range(rnd.randint(25, 45)))
    s = f"{i + 1}．{s}，确保本工程按期、优质、安全完成。"
    md.append(s + "\n")
    body.append(f"<p>{html.escape(s)}</p>")
    if i % 110 == 55 and fig < 24:
        fig += 1
        md.append(f"![图{fig} 施工现场示意图](img/fig{fig}.png)\n")
        body.append(f'<p style="text-align:center"><img src="img/fig{fig}.png" width="600"><br>图{fig} 施工现场示意图</p>')
open("src/施工组织设计.md", "w").write("# 第一章 施工组织设计\n\n" + "\n".join(md))
head = ("<h1 style='text-align:center'>投 标 文 件</h1><p>项目：滨江新区第一中学教学楼改扩建工程施工 第一标段</p>"
        "<p>投标人：示范建设集团有限公司（盖单位章）</p><p style='page-break-before:always'></p>"
        "<h1 style='text-align:center'>投标函</h1><p>致：滨江新区教育发展有限公司</p>"
        "<p>根据贵方招标文件，我方愿以投标总价人民币（大写）肆佰叁拾贰万壹仟元伍角整（¥4321000.50元）承担本标段全部工作。</p>"
        "<table border='1'><tr><td>投标总价</td><td>¥4321000.50 元</td></tr><tr><td>工期</td><td>300 日历天</td></tr>"
        "<tr><td>质量标准</td><td>合格</td></tr><tr><td>项目经理</td><td>王工</td></tr></table>"
        "<p>投标人（盖单位章）：示范建设集团有限公司</p><p>法定代表人（签字或盖章）：张建国</p>"
        "<p style='page-break-before:always'></p><h1>第一章 施工组织设计</h1>")
open("src/bid.html", "w").write("<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
    "<style>body{font-family:'Noto Sans CJK SC';font-size:11pt;line-height:1.7} p{text-indent:2em}</style></head><body>"
    + head + "\n".join(body) + "</body></html>")
PY

# Our side: a project from the demo tender, the chapter under 技术文件, the tender PDF as the
# small business/qualification attachments, then the timed composition.
"$BIN" project new bench.bidproj --tender "$DEMO/demo.tender.zip" --platform-cert "$DEMO/platform.crt" >/dev/null
"$BIN" project attach bench.bidproj --section business "$DEMO/tender.pdf" >/dev/null
"$BIN" project attach bench.bidproj --section qualification "$DEMO/tender.pdf" >/dev/null
"$BIN" project attach bench.bidproj --section technical "src/施工组织设计.md" >/dev/null
"$BIN" project set bench.bidproj bidder.name=示范建设集团有限公司 bidder.credit_code=91350100M000100Y43 \
  bidder.legal_representative=张建国 price=4321000.50 duration=300 quality=合格 project_manager=王工 >/dev/null

measure() { # name, then the command; prints "secs rss_kb"
  local name=$1; shift
  /usr/bin/time -v "$@" >"$name.out" 2>"$name.time" || { cat "$name.out" "$name.time" >&2; exit 1; }
  local secs rss
  secs=$(grep "Elapsed (wall clock)" "$name.time" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$name.time" | awk '{print $NF}')
  echo "$secs $rss"
}
font_bytes() { # total /Length of embedded font programs [whose name contains $2]
  qpdf --json --json-stream-data=none "$1" | python3 -c '
import json, sys
want = sys.argv[1]
objs = json.load(sys.stdin)["qpdf"][1]
def val(o): return o.get("value", o.get("stream", {}).get("dict", {}))
total = 0
for k, o in objs.items():
    d = val(o)
    if isinstance(d, dict) and d.get("/Type") == "/FontDescriptor" and want in d.get("/FontName", ""):
        for key in ("/FontFile", "/FontFile2", "/FontFile3"):
            ref = d.get(key)
            if ref:
                n = objs["obj:" + ref]["stream"]["dict"]["/Length"]
                total += objs["obj:" + n]["value"] if isinstance(n, str) else n
print(total)' "${2:-}"
}

read -r our_s our_rss < <(measure ours "$BIN" project compose bench.bidproj)
OUR_PDF=bench.bidproj/out/bid.pdf
mkdir -p lo
read -r lo_s lo_rss < <(measure lo soffice -env:UserInstallation="file://$WORK/lo-profile" --headless \
  --infilter="HTML (StarWriter)" --convert-to pdf:writer_pdf_Export --outdir lo src/bid.html)
LO_PDF=lo/bid.pdf

qpdf --check "$OUR_PDF" >/dev/null
our_pages=$(qpdf --show-npages "$OUR_PDF"); lo_pages=$(qpdf --show-npages "$LO_PDF")
our_size=$(stat -c %s "$OUR_PDF"); lo_size=$(stat -c %s "$LO_PDF")
our_font=$(font_bytes "$OUR_PDF"); lo_font=$(font_bytes "$LO_PDF")
# Our composer's own CJK subset (the attached tender PDFs bring LibreOffice's fonts along).
our_cjk=$(font_bytes "$OUR_PDF" "+NotoSansCJKsc-Regular")

printf '\n%-34s %12s %12s %8s\n' "compose ~300-page CJK bid" "bidseal" "LibreOffice" "ratio"
printf '%-34s %12s %12s %8.2f\n' "pages" "$our_pages" "$lo_pages" "$(echo "$our_pages / $lo_pages" | bc -l)"
printf '%-34s %12.2f %12.2f %8.2f\n' "wall time (s)" "$our_s" "$lo_s" "$(echo "$our_s / $lo_s" | bc -l)"
printf '%-34s %12d %12d %8.2f\n' "peak RSS (KiB)" "$our_rss" "$lo_rss" "$(echo "$our_rss / $lo_rss" | bc -l)"
printf '%-34s %12d %12d %8.2f\n' "output size (bytes)" "$our_size" "$lo_size" "$(echo "$our_size / $lo_size" | bc -l)"
printf '%-34s %12d %12d %8.2f\n' "embedded font programs (bytes)" "$our_font" "$lo_font" "$(echo "$our_font / $lo_font" | bc -l)"
printf '%-34s %12d\n' "  of which our CJK subset (bytes)" "$our_cjk"
if [ "$our_cjk" -le 0 ] || [ "$our_cjk" -ge 1048576 ]; then echo "FAIL: our CJK subset is ${our_cjk} bytes (must be embedded and < 1 MB)" >&2; exit 1; fi
echo "CJK font subset embedded and under 1 MB: ok"
