// Keyboard movement shared by the board views: a roving tabindex over a set of buttons laid out
// in a grid (only one button is in the Tab order; arrows move between them, Home/End jump, Enter
// and Space press the focused button as any button does).

export function rovingGrid(container, buttons, cols, onMove) {
  let active = 0;
  const set = (i, focus) => {
    active = Math.max(0, Math.min(buttons.length - 1, i));
    buttons.forEach((b, j) => b.setAttribute('tabindex', j === active ? '0' : '-1'));
    if (focus) buttons[active].focus();
    if (onMove) onMove(active);
  };
  set(0, false);
  container.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const rows = Math.ceil(buttons.length / cols);
    let r = Math.floor(i / cols);
    let c = i % cols;
    switch (e.key) {
      case 'ArrowLeft':
        c = (c + cols - 1) % cols;
        break;
      case 'ArrowRight':
        c = (c + 1) % cols;
        break;
      case 'ArrowUp':
        r = (r + rows - 1) % rows;
        break;
      case 'ArrowDown':
        r = (r + 1) % rows;
        break;
      case 'Home':
        c = 0;
        break;
      case 'End':
        c = cols - 1;
        break;
      default:
        return;
    }
    e.preventDefault();
    set(r * cols + c, true);
  });
  container.addEventListener('focusin', (e) => {
    const i = buttons.indexOf(e.target);
    if (i >= 0 && i !== active) set(i, false);
  });
  return {
    get active() {
      return active;
    },
    set,
    focus: () => buttons[active].focus(),
  };
}
