// The demo's player: ask the page's own server where a student in the chosen city is
// sent (it asks the locator), read the region from the edge's answer, play with hls.js.
'use strict';
(() => {
  const byId = (id) => document.getElementById(id);
  const video = byId('video');
  let hls = null;

  const show = (fields) => {
    for (const [id, text] of Object.entries(fields)) byId(id).textContent = text;
  };

  async function play(city) {
    show({ address: '–', edge: '–', region: '–', status: 'asking the locator…' });
    if (hls !== null) {
      hls.destroy();
      hls = null;
    }
    const answer = await fetch('play?city=' + encodeURIComponent(city), { cache: 'no-store' });
    const sent = await answer.json();
    if (!answer.ok) {
      show({ status: sent.error });
      return;
    }
    // The token is in the path; show where it points without it.
    const url = new URL(sent.url);
    show({ address: sent.address, edge: url.origin });
    // The edge names its region in every answer, and lets pages read it (CORS).
    const playlist = await fetch(sent.url, { cache: 'no-store' });
    const region = playlist.headers.get('X-Castedge-Region');
    show({ region: region || '(not sent)' });
    if (!playlist.ok) {
      show({ status: `the edge answered ${playlist.status}` });
      return;
    }
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls();
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) show({ status: `playback failed: ${data.details}` });
      });
      hls.loadSource(sent.url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = sent.url; // Safari plays HLS by itself
    } else {
      show({ status: 'this browser cannot play HLS' });
      return;
    }
    show({ status: `playing from ${region}` });
    try {
      await video.play();
    } catch (err) {
      show({ status: `press play (${err.name})` });
    }
  }

  byId('pick').addEventListener('submit', (event) => {
    event.preventDefault();
    play(byId('city').value).catch((err) => show({ status: String(err) }));
  });
})();
