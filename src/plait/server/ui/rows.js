// A table body whose rows follow a list of items by key. An item whose data did not change
// keeps its row: the same element, with the state it holds (a ticked checkbox, a focused
// link). A changed item gets a new row in its place, and rows move only when the order
// changed. A live page that refreshes every few seconds then costs the browser only the rows
// that changed, and nothing at all when none did.

/**
 * keyedRows(tbody, {key, build, empty}): `key(item)` names an item, `build(item)` returns
 * {el, ...anything the page keeps with the row}, `empty()` the row shown for no items.
 * Returns {update(items) -> whether the body changed, rows() -> the rows kept, in order}.
 */
export function keyedRows(tbody, {key, build, empty}) {
  let rows = new Map();  // key -> {el, json, ...build(item)}
  let emptyRow = null;

  function update(items) {
    const next = new Map();
    let changed = false;
    for (const item of items) {
      const k = key(item), json = JSON.stringify(item);
      const old = rows.get(k);
      if (old && old.json === json) {
        next.set(k, old);
      } else {
        next.set(k, {...build(item), json});
        changed = true;
      }
    }
    for (const [k, r] of rows) {
      if (next.get(k) !== r) { r.el.remove(); changed = true; }
    }
    if (items.length === 0 && !emptyRow) {
      emptyRow = empty();
      tbody.append(emptyRow);
      changed = true;
    } else if (items.length > 0 && emptyRow) {
      emptyRow.remove();
      emptyRow = null;
      changed = true;
    }
    let at = tbody.firstElementChild;
    for (const r of next.values()) {
      if (r.el === at) {
        at = at.nextElementSibling;
      } else {
        tbody.insertBefore(r.el, at);
        changed = true;
      }
    }
    rows = next;
    return changed;
  }

  return {update, rows: () => rows.values()};
}
