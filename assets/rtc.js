// couchplay web client: WebRTC.

import { $, MSG, session, video } from './page.js';
import { fail, mark, retry, setState, setStatus } from './state.js';
import { reconnect, send } from './signalling.js';
import { padMode } from './view.js';
import { attach } from './media.js';
import { flushInput } from './input.js';
import { AUDIO_LABEL, openFastChannel } from './sound.js';
import { exposeForTests } from './test-hooks.js';
import { ICE_CONNECT_MS, socketMediaSupported } from './wsmedia.js';

// A failed stream is restarted by rejoining (a fresh offer), up to MAX_REJOINS
// times in a row; a stream connected for STREAM_STABLE_MS counts as healthy again.
const MAX_REJOINS = 3;
const STREAM_STABLE_MS = 10_000;
const ICE_DISCONNECTED_MS = 10_000;

// iceFailed: WebRTC could not reach the host from here (UDP blocked, a network
// that passes only HTTP). Where the page can decode the game itself, it
// rejoins at once for the media over its WebSocket instead of trying WebRTC
// again; otherwise the usual restarts.
function iceFailed(reason) {
  if (session.leaving || session.failed || session.lostAt) return;
  // A stream that connected before and failed later met a blip, not a wall: WebRTC again.
  if (session.connectedOnce || !socketMediaSupported() || session.transport?.name !== 'ws' || window.couchplaySocketMedia.reason) {
    restartStream(reason);
    return;
  }
  window.couchplaySocketMedia.reason = `WebRTC could not connect: ${reason}`;
  console.warn(`couchplay: ${reason} Switching to the game over the WebSocket.`);
  const old = session.transport;
  session.transport = null;
  old.close(4001, 'switching to WebSocket media');
  reconnect('WebRTC could not connect — switching to the WebSocket…');
}

// restartStream rejoins with the session token after the stream failed: the
// host gives the same slot back with a new offer. The signalling connection is
// dropped without a leave, so the host holds the slot meanwhile.
export function restartStream(reason) {
  if (session.leaving || session.failed) return;
  if (session.lostAt) return; // already reconnecting, which brings a fresh stream
  if (session.rejoins >= MAX_REJOINS) {
    fail(`${reason} Restarting the stream did not help (${MAX_REJOINS} tries).`, { retry: true });
    return;
  }
  session.rejoins++;
  console.warn(`couchplay: ${reason} Rejoining (${session.rejoins}/${MAX_REJOINS}).`);
  const old = session.transport;
  session.transport = null; // its late messages and close are ignored
  // A WebSocket closes without leave; a poll session is replaced by the host
  // when the rejoin with this page's token arrives.
  if (old?.name === 'ws') old.close(4001, 'restarting the stream');
  reconnect('Restarting the stream…');
}

function newPeer() {
  // LAN only: host candidates are enough, no STUN/TURN.
  const pc = new RTCPeerConnection({ iceServers: [] });
  // One stream for the element holds video and audio, whatever streams (or
  // none) the host put them in; the element follows tracks added later.
  const remote = new MediaStream();
  pc.ontrack = (ev) => {
    const r = ev.receiver;
    // Play out as soon as possible: this is a game, not a film.
    try { r.jitterBufferTarget = 0; } catch { /* not supported */ }
    if ('playoutDelayHint' in r) { try { r.playoutDelayHint = 0; } catch { /* not supported */ } }
    remote.addTrack(ev.track);
    mark(`track-${ev.track.kind}`);
    if (video.srcObject !== remote) attach(remote);
  };
  pc.onicecandidate = (ev) => {
    send({ type: MSG.candidate, candidate: ev.candidate ? ev.candidate.toJSON() : null });
  };
  let disconnectedTimer = 0;
  pc.oniceconnectionstatechange = () => {
    if (pc !== session.pc) return;
    clearTimeout(disconnectedTimer);
    const state = pc.iceConnectionState;
    if (state === 'failed') {
      iceFailed('The video connection failed (ICE failed): the host cannot be reached directly on this network.');
    } else if (state === 'disconnected') {
      // Usually back within seconds; one that stays away is as good as failed.
      disconnectedTimer = setTimeout(() => {
        if (pc === session.pc && pc.iceConnectionState === 'disconnected') {
          restartStream('The video connection was lost (ICE disconnected).');
        }
      }, ICE_DISCONNECTED_MS);
    }
  };
  pc.onconnectionstatechange = () => {
    if (pc !== session.pc) return;
    if (pc.connectionState === 'connected') {
      mark('connected');
      session.connectedOnce = true;
      clearTimeout(session.iceTimer);
      // Connected and still so a while later: restarts are counted afresh.
      clearTimeout(session.stableTimer);
      session.stableTimer = setTimeout(() => { if (pc === session.pc) session.rejoins = 0; }, STREAM_STABLE_MS);
    }
    if (pc.connectionState === 'failed') {
      if (session.connectedOnce) restartStream('The video connection to the host failed.');
      else iceFailed('The video connection to the host failed before it ever connected.');
    }
  };
  pc.ondatachannel = (ev) => {
    if (ev.channel.label === AUDIO_LABEL) { openFastChannel(ev.channel); return; }
    if (ev.channel.label !== 'input') return;
    const ch = ev.channel;
    ch.binaryType = 'arraybuffer';
    session.channel = ch;
    ch.onopen = () => {
      session.sent = ''; // none yet on this channel: send the state now
      session.sentBits = 0;
      flushInput();
      // Controller mode has no picture to wait for: the pad drives the game from here on.
      if (padMode()) {
        mark('pad-ready');
        setState('playing');
        setStatus('');
      }
    };
    ch.onclose = () => { if (session.channel === ch) session.channel = null; };
  };
  return pc;
}

export async function onOffer(msg) {
  if (!session.pc) {
    session.pc = newPeer();
    exposeForTests();
  }
  const pc = session.pc;
  mark('offer');
  session.offerHasVideo = /^m=video /m.test(msg.sdp);
  await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
  for (const c of session.pendingCandidates.splice(0)) await addCandidate(c);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: MSG.answer, sdp: pc.localDescription.sdp });
  mark('answer-sent');
  // ICE that has not connected in this time will not (loopback and a LAN take well under a second).
  clearTimeout(session.iceTimer);
  session.iceTimer = setTimeout(() => {
    if (pc === session.pc && pc.connectionState !== 'connected') {
      iceFailed(`WebRTC did not connect within ${ICE_CONNECT_MS / 1000} s (UDP to the host blocked?).`);
    }
  }, ICE_CONNECT_MS);
}

async function addCandidate(c) {
  try {
    await session.pc.addIceCandidate(c ?? null);
  } catch (err) {
    console.warn('couchplay: bad remote candidate', c, err);
  }
}

export async function onRemoteCandidate(c) {
  if (!session.pc || !session.pc.remoteDescription) {
    session.pendingCandidates.push(c);
    return;
  }
  await addCandidate(c);
}
