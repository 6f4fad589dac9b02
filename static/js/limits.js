// Text boxes keep at most their maxlength characters (the server's limit): a paste that is longer is cut by
// the browser, silently. Say so next to the box, with the numbers, until the text fits again.

const fmt = (n) => n.toLocaleString("en-US");

function noteFor(box) {
  let note = box.parentElement.querySelector(`.limit-note[data-for="${box.id}"]`);
  if (!note) {
    note = document.createElement("p");
    note.className = "limit-note";
    note.dataset.for = box.id;
    note.setAttribute("role", "status");
    box.after(note);
  }
  return note;
}

function clear(box) {
  const note = box.parentElement?.querySelector(`.limit-note[data-for="${box.id}"]`);
  if (note) note.remove();
}

/** Watch every text box with a maxlength in the page (delegated: boxes added later are covered too). */
export function install(root = document) {
  root.addEventListener("paste", (e) => {
    const box = e.target;
    if (!(box instanceof HTMLInputElement || box instanceof HTMLTextAreaElement) || box.maxLength < 0) return;
    const pasted = e.clipboardData?.getData("text") ?? "";
    const kept = box.value.length - Math.abs((box.selectionEnd ?? 0) - (box.selectionStart ?? 0));
    const total = kept + pasted.length;
    if (total <= box.maxLength) { clear(box); return; }
    noteFor(box).textContent = `Pasted ${fmt(pasted.length)} characters: this box keeps ${fmt(box.maxLength)} ` +
      `(its limit), so the last ${fmt(total - box.maxLength)} were cut.`;
  }, true);
  root.addEventListener("input", (e) => {
    const box = e.target;
    if (!(box instanceof HTMLInputElement || box instanceof HTMLTextAreaElement) || box.maxLength < 0) return;
    if (box.value.length < box.maxLength) clear(box);
  }, true);
}
