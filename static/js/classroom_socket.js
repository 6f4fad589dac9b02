// The live class's socket: one WebSocket per page that reconnects with backoff and says hello again.

/** A random session id (hex), one per page and role. */
export function randomId() {
  const a = new Uint8Array(12);
  crypto.getRandomValues(a);
  return [...a].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * One socket that reconnects and says hello again; the server replays the current state (catch-up).
 * Backoff 0.3 s doubling to 5 s, with jitter so a class whose server died does not return all at once;
 * behind a load balancer the same URL reaches a live replica. Stops for good when the class is gone
 * (4404) or the token is wrong (4403); waits a minute when its address is rate-limited (4429).
 */
export function connect(code, hello, onMsg, onStatus) {
  let ws = null;
  let delay = 300;
  let stopped = false;
  let timer = null;
  const open = () => {
    timer = null;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const sock = new WebSocket(`${proto}//${location.host}/api/class/${code}/ws`);
    ws = sock;
    sock.onopen = () => {
      delay = 300;
      window.__classOpens = (window.__classOpens || 0) + 1; // tests: how many times this page connected
      sock.send(JSON.stringify(hello));
      onStatus("live");
    };
    sock.onmessage = (e) => { if (sock === ws) onMsg(JSON.parse(e.data)); };
    sock.onclose = (e) => {
      if (stopped || sock !== ws) return;
      if (e.code === 4404 || e.code === 4403) { onStatus("ended"); return; }
      onStatus("reconnecting");
      const wait = e.code === 4429 ? 60_000 : delay * (0.5 + Math.random());
      delay = Math.min(delay * 2, 5000);
      timer = setTimeout(open, wait);
    };
  };
  // a phone waking up or coming back online reconnects at once rather than after the backoff
  const now = () => { if (!stopped && timer !== null) { clearTimeout(timer); open(); } };
  window.addEventListener("online", now);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) now(); });
  open();
  return {
    send: (m) => { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(m)); return true; } return false; },
    stop: () => { stopped = true; if (timer !== null) clearTimeout(timer); if (ws) ws.close(); },
  };
}
