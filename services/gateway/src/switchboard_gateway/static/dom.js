// One helper to build elements: tag, class, text, data-testid.
export function el(tag, cls, text, testid) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  if (testid) node.dataset.testid = testid;
  return node;
}
