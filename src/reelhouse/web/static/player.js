// Reelhouse's player: the HLS ladder through hls.js (or the browser's own HLS,
// or the MP4), reporting Segment Video Spec events to Reelhouse's ingestion
// with the account's public write key.
//
// Events are batched and sent when playback starts, fails or ends, with each
// 10 s heartbeat, and by sendBeacon when the page goes away.
(() => {
  "use strict";

  const HEARTBEAT_MS = 10000;
  const video = document.querySelector("video[data-video-id]");
  const config = video.dataset;
  const sessionId = crypto.randomUUID();
  const anonymousId = viewerId();
  const queue = [];
  let hls = null;
  let playRequestedAt = null; // performance.now() of the first play request
  let firstFrame = false;
  let buffering = false;
  let seeking = false;
  let finished = false;
  let heartbeat = null;
  let position = 0; // where playback was before a seek began

  function viewerId() {
    try {
      const known = localStorage.getItem("reelhouse-viewer");
      if (known) return known;
      const made = crypto.randomUUID();
      localStorage.setItem("reelhouse-viewer", made);
      return made;
    } catch {
      return crypto.randomUUID(); // storage refused (a sandboxed iframe)
    }
  }

  function properties(extra) {
    const level = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : null;
    return {
      session_id: sessionId,
      content_asset_id: config.videoId,
      position: Math.floor(video.currentTime),
      total_length: Number.isFinite(video.duration) ? Math.round(video.duration) : null,
      bitrate: level ? Math.round(level.bitrate / 1000) : null,
      quality: level ? `${level.height}p` : null,
      sound: video.muted ? 0 : Math.round(video.volume * 100),
      full_screen: Boolean(document.fullscreenElement),
      livestream: false,
      ad_enabled: false,
      video_player: "reelhouse",
      ...extra,
    };
  }

  function track(event, extra = {}) {
    queue.push({
      type: "track",
      event,
      anonymousId,
      messageId: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      properties: properties(extra),
      context: { page: { url: location.href, referrer: document.referrer } },
    });
  }

  function flush(leaving = false) {
    if (!queue.length) return;
    const body = JSON.stringify({
      batch: queue.splice(0),
      writeKey: config.writeKey,
      sentAt: new Date().toISOString(),
    });
    // text/plain, as Segment's browser library sends it: no preflight.
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(config.events, new Blob([body], { type: "text/plain" }));
    } else {
      fetch(config.events, {
        method: "POST",
        body,
        headers: { "Content-Type": "text/plain" },
        keepalive: true,
      }).catch(() => {});
    }
  }

  function startHeartbeat() {
    if (heartbeat === null) {
      heartbeat = setInterval(() => {
        // Only pictures that move: not while waiting for the first frame,
        // rebuffering or seeking.
        if (firstFrame && !video.paused && !buffering && !seeking) {
          track("Video Content Playing");
        }
        flush();
      }, HEARTBEAT_MS);
    }
  }

  function stopHeartbeat() {
    clearInterval(heartbeat);
    heartbeat = null;
  }

  function failed(reason) {
    track("Video Playback Interrupted", { method: "error", error: reason });
    stopHeartbeat();
    flush();
  }

  video.addEventListener("play", () => {
    if (playRequestedAt === null) {
      playRequestedAt = performance.now();
      track("Video Playback Started");
      flush();
    } else if (!finished) {
      track("Video Playback Resumed");
    }
    startHeartbeat();
  });
  video.addEventListener("playing", () => {
    if (!firstFrame) {
      firstFrame = true;
      const startupTime = Math.max(1, Math.round(performance.now() - playRequestedAt));
      track("Video Quality Updated", { startupTime });
      track("Video Content Started");
    } else if (buffering) {
      buffering = false;
      track("Video Playback Buffer Completed");
    }
  });
  video.addEventListener("waiting", () => {
    if (firstFrame && !seeking && !buffering) {
      buffering = true;
      track("Video Playback Buffer Started");
    }
  });
  video.addEventListener("pause", () => {
    if (!video.ended) track("Video Playback Paused");
    stopHeartbeat();
  });
  video.addEventListener("timeupdate", () => {
    if (!seeking) position = video.currentTime;
  });
  video.addEventListener("seeking", () => {
    // Before the first frame a seek is the player's own (hls.js skips a gap
    // at the start), not the viewer's.
    if (firstFrame && !seeking) {
      seeking = true;
      // By now currentTime is where the seek goes; position is where it left.
      track("Video Playback Seek Started", {
        position: Math.floor(position),
        seek_position: Math.floor(video.currentTime),
      });
    }
  });
  video.addEventListener("seeked", () => {
    if (seeking) {
      seeking = false;
      track("Video Playback Seek Completed");
    }
  });
  video.addEventListener("ended", () => {
    finished = true;
    stopHeartbeat();
    track("Video Content Completed");
    track("Video Playback Completed");
    flush();
  });
  video.addEventListener("error", () => {
    if (!hls) failed(video.error ? `media error ${video.error.code}` : "media error");
  });
  addEventListener("pagehide", () => flush(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush(true);
  });

  // The impression: the player is on the page, whether or not it plays.
  track("Video Player Loaded");
  if (config.streaming && window.Hls && Hls.isSupported()) {
    hls = new Hls();
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) failed(data.details);
    });
    // A switch to another rung: the bitrate and quality properties say which.
    hls.on(Hls.Events.LEVEL_SWITCHED, () => {
      if (firstFrame) track("Video Quality Updated");
    });
    hls.loadSource(config.streaming);
    hls.attachMedia(video);
  } else if (config.streaming && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = config.streaming; // Safari plays HLS itself
  } else {
    video.src = config.download;
  }
  window.reelhousePlayer = { sessionId, flush };
})();
