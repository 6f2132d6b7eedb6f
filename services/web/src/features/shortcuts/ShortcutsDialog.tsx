import { Dialog } from '../../shared/ui/Dialog';

/** Every shortcut of the dashboard; each mirrors a visible control. */
export const SHORTCUTS: { keys: string[]; what: string }[] = [
  { keys: ['j', '↓'], what: 'Select the next incident' },
  { keys: ['k', '↑'], what: 'Select the previous incident' },
  { keys: ['Enter'], what: 'Open the selected incident' },
  { keys: ['a'], what: 'Acknowledge the selected (or open) incident' },
  { keys: ['r'], what: 'Resolve the selected (or open) incident' },
  { keys: ['?'], what: 'Show this list' },
  { keys: ['Esc'], what: 'Close a dialog' },
];

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <p className="mb-3 text-sm text-muted">Shortcuts do nothing while you type in a field.</p>
      <table className="w-full text-sm">
        <thead className="sr-only">
          <tr>
            <th scope="col">Keys</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map((shortcut) => (
            <tr key={shortcut.what} className="border-b border-line last:border-b-0">
              <td className="py-1.5 pr-4 whitespace-nowrap">
                {shortcut.keys.map((key, index) => (
                  <span key={key}>
                    {index > 0 && <span className="px-1 text-muted">or</span>}
                    <kbd className="rounded border border-line bg-subtle px-1.5 py-0.5 font-mono text-xs">{key}</kbd>
                  </span>
                ))}
              </td>
              <td className="py-1.5">{shortcut.what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
