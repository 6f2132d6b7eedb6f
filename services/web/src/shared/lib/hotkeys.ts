// One keyboard registry for the whole page. Single-key shortcuts are ignored while the user types
// in a field and when a modifier is held. The binding registered last for a key wins, so an open
// dialog takes Escape from the page under it.
import { useEffect, useRef } from 'react';

export type HotkeyHandler = (event: KeyboardEvent) => void;

interface Binding {
  keys: Record<string, HotkeyHandler>;
  /** A modal dialog: keys it does not bind do not reach the page under it. */
  modal: boolean;
}

const stack: Binding[] = [];
let listening = false;

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (target as HTMLInputElement).type;
    return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(type);
  }
  return false;
}

function onKeyDown(event: KeyboardEvent) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  if (key !== 'Escape' && isTyping(event.target)) return;
  // Enter on a link or button already does what it should.
  if (key === 'Enter' && event.target instanceof HTMLElement && event.target.closest('a,button,summary')) return;
  for (let i = stack.length - 1; i >= 0; i--) {
    const binding = stack[i]!;
    const handler = binding.keys[key];
    if (handler) {
      event.preventDefault();
      handler(event);
      return;
    }
    if (binding.modal) return;
  }
}

/** Bind keys (KeyboardEvent.key values) while the component is mounted and `enabled`. */
export function useHotkeys(keys: Record<string, HotkeyHandler>, enabled = true, modal = false) {
  const latest = useRef(keys);
  latest.current = keys;
  const names = Object.keys(keys).sort().join(' ');

  useEffect(() => {
    if (!enabled) return;
    const binding: Binding = { keys: {}, modal };
    for (const key of names.split(' ').filter(Boolean)) {
      binding.keys[key] = (event) => latest.current[key]?.(event);
    }
    stack.push(binding);
    if (!listening) {
      window.addEventListener('keydown', onKeyDown);
      listening = true;
    }
    return () => {
      stack.splice(stack.indexOf(binding), 1);
      if (stack.length === 0) {
        window.removeEventListener('keydown', onKeyDown);
        listening = false;
      }
    };
  }, [names, enabled, modal]);
}
