// word-count-widget in JavaScript: the field widget `word-count` for text
// fields, built with componentize-js against Plinth's wit/ (world
// `widget-plugin`). It renders the text with its word count and rejects values
// over the `max_words` setting, exactly like its Rust twin.
//
// A WIT `result` error is thrown as `{ tag, val }` (`tag` is the case of
// plinth:plugin/types `error`); host calls that fail throw the same shape.

import { get as settingGet } from 'plinth:plugin/settings@0.3.0';

const WIDGET = 'word-count';

function checkWidget(id) {
  if (id !== WIDGET) {
    throw { tag: 'not-found', val: `no widget \`${id}\`; this plugin has \`${WIDGET}\`` };
  }
}

function maxWords() {
  const value = settingGet('max_words');
  return value === undefined || value === null ? 200 : JSON.parse(value);
}

function countWords(text) {
  return text.split(/\s+/).filter((w) => w.length > 0).length;
}

function escape(text) {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function textOf(value) {
  const parsed = JSON.parse(value);
  if (parsed === null) return '';
  if (typeof parsed !== 'string') throw new Error('not text');
  return parsed;
}

export const fieldWidget = {
  listWidgets() {
    return [{ id: WIDGET, label: 'Word count', fieldTypes: ['text'] }];
  },
  render(widgetId, context) {
    checkWidget(widgetId);
    let text;
    try { text = textOf(context.value); } catch { throw { tag: 'invalid-input', val: `expected a JSON string, got \`${context.value}\`` }; }
    const words = countWords(text);
    const max = maxWords();
    const state = words > max ? 'over' : 'ok';
    const field = escape(context.fieldName);
    return `<div class="plinth-word-count" data-field="${field}" data-state="${state}"><textarea name="${field}">${escape(text)}</textarea><span class="count">${words} / ${max} words</span></div>`;
  },
  validate(widgetId, value) {
    checkWidget(widgetId);
    let text;
    try { text = textOf(value); } catch { return ['the value must be text']; }
    const words = countWords(text);
    const max = maxWords();
    return words > max ? [`${words} words is more than the maximum of ${max}`] : [];
  },
};
