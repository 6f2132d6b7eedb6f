import { Monitor, Moon, Sun } from 'lucide-react';
import { setThemeChoice, useThemeChoice, type ThemeChoice } from './theme';

const options: { value: ThemeChoice; label: string; icon: typeof Sun }[] = [
  { value: 'light', label: 'Light', icon: Sun },
  { value: 'dark', label: 'Dark', icon: Moon },
  { value: 'system', label: 'System', icon: Monitor },
];

/** Three buttons, one pressed: light, dark, or follow the system. */
export function ThemeToggle() {
  const choice = useThemeChoice();
  return (
    <div role="group" aria-label="Theme" className="inline-flex rounded-md border border-line bg-canvas p-0.5">
      {options.map(({ value, label, icon: Icon }) => (
        <button
          key={value}
          type="button"
          aria-pressed={choice === value}
          onClick={() => setThemeChoice(value)}
          className={`inline-flex items-center gap-1 rounded px-2 py-1 text-xs ${
            choice === value ? 'bg-surface font-semibold text-fg shadow-sm' : 'text-muted hover:text-fg'
          }`}
        >
          <Icon aria-hidden="true" className="size-3.5" />
          <span className="sr-only md:not-sr-only">{label}</span>
        </button>
      ))}
    </div>
  );
}
