// BidSeal home screen. Talks to Rust only through typed Tauri commands (`app_info`).
const invoke = window.__TAURI__?.core?.invoke;

function show(text, isError = false) {
  const el = document.getElementById("message");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function loadAppInfo() {
  if (!invoke) {
    show("未在 BidSeal 桌面程序中运行，无法连接后端。", true);
    return;
  }
  try {
    const info = await invoke("app_info");
    document.getElementById("app-version").textContent = info.version;
    document.getElementById("relay-address").textContent = info.relay_address ?? "未运行";
    document.getElementById("relay-status").textContent = info.relay_status;
    show(`已连接后端：BidSeal ${info.version}`);
  } catch (err) {
    show(`读取应用信息失败：${err}`, true);
  }
}

document.getElementById("check-connection").addEventListener("click", loadAppInfo);
for (const card of document.querySelectorAll(".card[data-flow]")) {
  card.addEventListener("click", () => {
    const name = card.querySelector("b").textContent;
    show(`「${name}」尚未实现（开发计划见 issue #${card.dataset.issue}），本次未执行任何操作。`, true);
  });
}
loadAppInfo();
