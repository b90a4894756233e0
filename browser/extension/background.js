// capture-agent tab reporter: sends the focused tab's title and URL to the agent's
// native-messaging host (capture/window/browser_host.py) whenever they change. The host
// and the agent check everything again; this side only avoids sending what is never
// needed: private windows (the extension is not allowed there), non-web pages, long
// values.
"use strict";

const HOST = "org.capture_agent.browser";
const MAX_TITLE = 1024;
const MAX_URL = 2048;
const api = typeof browser !== "undefined" ? browser : chrome;

let port = null;
let last = "";

function connect() {
  if (port !== null) return port;
  try {
    port = api.runtime.connectNative(HOST);
  } catch (e) {
    port = null;
    return null;
  }
  port.onDisconnect.addListener(() => {
    // The host is gone (agent restarted, not installed): reconnect on the next change.
    port = null;
    last = "";
  });
  return port;
}

function send(tab) {
  if (!tab || tab.incognito || !tab.active) return;
  const url = tab.url || "";
  if (!/^https?:\/\//i.test(url) || url.length > MAX_URL) return;
  const title = (tab.title || "").slice(0, MAX_TITLE);
  const key = title + "\n" + url;
  if (key === last) return;
  const p = connect();
  if (p === null) return;
  try {
    p.postMessage({ title: title, url: url });
    last = key;
  } catch (e) {
    port = null;
  }
}

async function reportFocused() {
  try {
    const tabs = await api.tabs.query({ active: true, lastFocusedWindow: true });
    if (tabs.length > 0) send(tabs[0]);
  } catch (e) {
    // The window closed while we asked: nothing to report.
  }
}

api.tabs.onActivated.addListener(reportFocused);
api.tabs.onUpdated.addListener((tabId, change, tab) => {
  if (tab.active && (change.url !== undefined || change.title !== undefined || change.status === "complete")) {
    reportFocused();
  }
});
api.windows.onFocusChanged.addListener(reportFocused);
api.runtime.onStartup.addListener(reportFocused);
api.runtime.onInstalled.addListener(reportFocused);
reportFocused();
