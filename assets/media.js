// couchplay web client: media element.

import { $, video } from './page.js';
import { mark, retry, setState, setStatus } from './state.js';
import { AUDIO_PATH, sound, worklet } from './sound.js';

export function attach(stream) {
  video.srcObject = stream;
  playVideo();
  watchFirstFrame();
}

// Plays the element: with its (RTP) sound, or muted while the sound comes
// over the data channel (sound.path) so the tone is not heard twice.
export function playVideo() {
  if (sound.path === AUDIO_PATH.fast) {
    video.muted = true;
    video.play().catch((err) => console.warn('couchplay: muted play refused', err));
    return;
  }
  video.muted = false;
  const p = video.play();
  if (p) {
    p.catch((err) => {
      if (err.name !== 'NotAllowedError') return; // e.g. AbortError: a newer play() took over
      // Autoplay with sound was refused: play muted and offer a tap to unmute.
      video.muted = true;
      video.play().catch((err) => console.warn('couchplay: muted play refused', err));
      $('unmute').hidden = false;
    });
  }
}

let firstFrameWatched = false;
let streamGeneration = 0; // a callback armed for an older stream says nothing
// watchFirstFrameAgain: the next stream's first frame is marked again.
export function watchFirstFrameAgain() {
  firstFrameWatched = false;
  streamGeneration++;
}
function watchFirstFrame() {
  if (firstFrameWatched) return;
  firstFrameWatched = true;
  const generation = streamGeneration;
  const presented = () => {
    if (generation !== streamGeneration) return;
    mark('first-frame');
    setState('playing');
    setStatus('');
  };
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    video.requestVideoFrameCallback(presented);
  } else {
    video.addEventListener('playing', presented, { once: true });
  }
}

export function unmute() {
  $('unmute').hidden = true;
  if (worklet()) {
    // iOS/Safari: a context resumes only inside the gesture's handler.
    sound.ctx?.resume().catch(() => {});
    video.play().catch(() => {});
    return;
  }
  video.muted = false;
  video.play().catch(() => {});
}
$('retry').addEventListener('click', retry);
$('unmute').addEventListener('click', unmute);
$('unmute').addEventListener('touchend', (ev) => { ev.preventDefault(); unmute(); });
