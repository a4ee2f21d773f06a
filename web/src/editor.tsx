// A JSON editor (CodeMirror 6) whose problems show at their lines. Loaded only by the pages
// that edit, so the first load stays small.
import { useEffect, useRef } from "react";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { bracketMatching, defaultHighlightStyle, foldGutter, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorState, type Extension } from "@codemirror/state";
import { EditorView, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";

export type LineProblem = { line: number; message: string };

/**
 * A CodeMirror view in `host` holding `value`: typing reports the text through `onChange`, and
 * a value set from outside (a file opened, a value inserted) replaces it. `extensions` is read
 * once, when the view is made.
 */
export function useEditor(value: string, onChange: (value: string) => void, extensions: () => Extension[]) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;
  // The last text the editor itself reported: a value equal to it is an echo, not a new text.
  const reported = useRef(value);

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          ...extensions(),
          EditorView.updateListener.of((update) => {
            if (!update.docChanged) return;
            reported.current = update.state.doc.toString();
            changed.current(reported.current);
          }),
        ],
      }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // The editor is made once; later values arrive through the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // The echo of the editor's own change is not applied again (it may lag behind a change typed
  // since).
  useEffect(() => {
    const editor = view.current;
    if (editor && value !== reported.current) {
      reported.current = value;
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
    }
  }, [value]);
  return { host, view };
}

export default function JsonEditor(props: {
  value: string;
  onChange: (value: string) => void;
  label: string;
  problems: LineProblem[];
  readOnly?: boolean;
}) {
  const { host, view } = useEditor(props.value, props.onChange, () => [
    lineNumbers(),
    foldGutter(),
    history(),
    indentOnInput(),
    bracketMatching(),
    highlightActiveLine(),
    syntaxHighlighting(defaultHighlightStyle),
    json(),
    lintGutter(),
    // Long lines wrap and the editor grows with its text: nothing scrolls inside it, so
    // the page's own scrolling (and keyboard) reaches every line.
    EditorView.lineWrapping,
    // Tab indents; Escape then Tab leaves the editor (CodeMirror's keyboard escape hatch).
    keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
    EditorState.readOnly.of(props.readOnly ?? false),
    EditorView.contentAttributes.of({ "aria-label": props.label, "aria-multiline": "true" }),
    EditorView.theme({
      "&": { fontSize: "13px", border: "1px solid rgb(203 213 225)", borderRadius: "0.375rem", backgroundColor: "white" },
      "&.cm-focused": { outline: "2px solid rgb(79 70 229)" },
      ".cm-scroller": { fontFamily: "ui-monospace, monospace", minHeight: "16rem", overflow: "visible" },
      ".cm-gutters": { backgroundColor: "rgb(248 250 252)", color: "rgb(71 85 105)" },
    }),
  ]);

  useEffect(() => {
    const editor = view.current;
    if (!editor) return;
    const doc = editor.state.doc;
    const diagnostics: Diagnostic[] = props.problems
      .filter((problem) => problem.line >= 1 && problem.line <= doc.lines)
      .map((problem) => {
        const line = doc.line(problem.line);
        return { from: line.from, to: line.to, severity: "error", message: problem.message };
      });
    editor.dispatch(setDiagnostics(editor.state, diagnostics));
  }, [props.problems, view]);

  return <div ref={host} />;
}
