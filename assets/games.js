// couchplay web client: game console (library, commands, what runs).

import { $, GAME_CRASHED, MSG, STATE_SLOTS, body, session } from './page.js';
import { send } from './signalling.js';
import { releaseAll } from './input.js';

//
// Every page shows what runs (title, name, a banner when it crashed); the
// player in slot 1 also gets the Games panel: the library with Play buttons,
// Stop, Reset and save states. The host broadcasts a `game` message on every
// change, so the panel closes when the game asked for is running.

export const games = {
  list: null, // the last library message's games
  current: null, // the last game status: {name, width, height, id, state, message}
  pending: null, // id of a play request waiting for its game message
};

export function showGame(game) {
  if (!game) return;
  games.current = game;
  session.game = game;
  const name = game.name || 'couchplay';
  document.title = `${name} — couchplay`;
  $('game-name').textContent = name;
  body.dataset.game = game.state || 'running';
  const crash = $('crash');
  if (game.state === GAME_CRASHED) {
    $('crash-text').textContent = game.message || `${name} crashed.`;
    crash.hidden = false;
  } else {
    crash.hidden = true;
    $('crash-text').textContent = '';
  }
  showRestart();
  if (games.pending && game.id === games.pending && game.state !== GAME_CRASHED) {
    games.pending = null;
    closeGames();
  }
  setGamesBusy(false);
  markCurrent();
}

// Player 1 may start a crashed game again from the banner (the same play
// command as the panel's, with the crashed game's id).
export function showRestart() {
  const crashed = games.current?.state === GAME_CRASHED;
  const button = $('crash-restart');
  button.hidden = !crashed || body.dataset.slot !== '1' || !games.current?.id;
  button.disabled = false;
}

function restartGame() {
  const id = games.current?.id;
  if (!id || body.dataset.slot !== '1') return;
  $('crash-restart').disabled = true; // until the host answers (a game message or an error)
  playGame(id);
}

export function showLibrary(list) {
  games.list = Array.isArray(list) ? list : [];
  const ul = $('games-list');
  ul.replaceChildren();
  if (!games.list.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No games found.';
    ul.append(li);
    return;
  }
  for (const g of games.list) {
    const li = document.createElement('li');
    li.dataset.id = g.id;
    const info = document.createElement('div');
    info.className = 'info';
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = g.name || g.id;
    const system = document.createElement('div');
    system.className = 'system';
    system.textContent = [g.system, g.core].filter(Boolean).join(' · ');
    info.append(name, system);
    const play = document.createElement('button');
    play.type = 'button';
    play.className = 'play';
    play.textContent = 'Play';
    play.setAttribute('aria-label', `Play ${g.name || g.id}`);
    if (g.problem) {
      li.classList.add('unavailable');
      const problem = document.createElement('div');
      problem.className = 'problem';
      problem.textContent = g.problem;
      info.append(problem);
      play.disabled = true;
      play.title = g.problem;
    } else {
      play.addEventListener('click', () => playGame(g.id));
    }
    li.append(info, play);
    ul.append(li);
  }
  markCurrent();
}

function markCurrent() {
  for (const li of $('games-list').querySelectorAll('li[data-id]')) {
    li.classList.toggle('current', li.dataset.id === games.current?.id);
  }
}

// While a command runs, the panel's buttons wait (Console.Play may take seconds).
export function setGamesBusy(busy) {
  $('games-panel').classList.toggle('busy', busy);
  $('games-panel').setAttribute('aria-busy', String(busy));
}

export function gamesOpen() { return !$('games-panel').hidden; }

function openGames() {
  if (body.dataset.slot !== '1') return;
  const panel = $('games-panel');
  releaseAll(); // keys held now would stay held while the panel has the keyboard
  panel.hidden = false;
  body.dataset.panel = 'games';
  send({ type: MSG.library }); // fresh list (games may have been added)
  (panel.querySelector('#games-list button.play:not(:disabled)') || panel).focus();
}

export function closeGames() {
  const panel = $('games-panel');
  if (panel.hidden) return;
  panel.hidden = true;
  delete body.dataset.panel;
  // Give the keyboard back to the game, not to a button (Enter is Start).
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
}

export function toggleGames() {
  if (gamesOpen()) closeGames(); else openGames();
}

function playGame(id) {
  games.pending = id;
  setGamesBusy(true);
  send({ type: MSG.play, game: id });
}

function stateSlot() { return Number($('state-slot').value) || 1; }

export function setupGames() {
  const select = $('state-slot');
  for (let i = 1; i <= STATE_SLOTS; i++) {
    const opt = document.createElement('option');
    opt.value = String(i);
    opt.textContent = String(i);
    select.append(opt);
  }
  $('games-button').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleGames(); });
  $('games-close').addEventListener('click', closeGames);
  $('crash-restart').addEventListener('click', (ev) => { ev.currentTarget.blur(); restartGame(); });
  $('game-stop').addEventListener('click', () => { games.pending = null; send({ type: MSG.stop }); });
  $('game-reset').addEventListener('click', () => send({ type: MSG.reset }));
  $('state-save').addEventListener('click', () => send({ type: MSG.saveState, stateSlot: stateSlot() }));
  $('state-load').addEventListener('click', () => send({ type: MSG.loadState, stateSlot: stateSlot() }));
  // Touches and clicks in the panel are the panel's, not the page's.
  $('games-panel').addEventListener('pointerdown', (ev) => ev.stopPropagation());
}
