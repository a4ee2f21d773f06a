// A step setting that takes text with values put in (`Dear {{ read_email.from }}`), or an
// expression (`order.total * 2`): Baton's references highlighted, and typing `{{` (or, in an
// expression, a name) offers the values of earlier steps with their last-run samples.
import { autocompletion, type Completion, type CompletionContext } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { EditorState } from "@codemirror/state";
import { Decoration, EditorView, MatchDecorator, ViewPlugin, keymap, placeholder, type DecorationSet, type ViewUpdate } from "@codemirror/view";
import { useEditor } from "../editor";

export type Offered = { reference: string; label: string; sample?: string };

/** `{{ read_email.from }}` → `read_email.from`. */
const bare = (reference: string) => reference.replace(/^\{\{\s*|\s*\}\}$/g, "");

/** What to offer at the cursor: after `{{` in text, after a name in an expression. */
export function offer(values: Offered[], expression: boolean) {
  return (context: CompletionContext) => {
    const before = context.matchBefore(expression ? /[A-Za-z_][\w.]*/ : /\{\{\s*[\w.]*/);
    if (!before && !context.explicit) return null;
    const typed = before?.text ?? "";
    const from = (before?.from ?? context.pos) + (expression ? 0 : typed.length - typed.replace(/^\{\{\s*/, "").length);
    const options: Completion[] = values.map((value) => ({
      label: bare(value.reference),
      detail: value.sample ?? value.label,
      // In text the reference is closed for the person; an expression takes it bare.
      apply: expression ? bare(value.reference) : `${bare(value.reference)} }}`,
      type: "variable",
    }));
    return { from, options, validFor: /^[\w.]*$/ };
  };
}

/** Baton's `{{ … }}` in text, and the names of earlier steps in an expression, marked. */
function highlighter(values: Offered[], expression: boolean) {
  const roots = [...new Set(values.map((value) => bare(value.reference).split(".")[0]))].map((root) => root.replace(/[^\w]/g, ""));
  const pattern = expression ? (roots.length ? new RegExp(`\\b(?:${roots.join("|")})(?:\\.[\\w]+)*`, "g") : /(?!)/g) : /\{\{[^}]*\}\}/g;
  const decorator = new MatchDecorator({ regexp: pattern, decoration: Decoration.mark({ class: "cm-baton-reference" }) });
  return ViewPlugin.fromClass(
    class {
      decorations: DecorationSet;
      constructor(view: EditorView) {
        this.decorations = decorator.createDeco(view);
      }
      update(update: ViewUpdate) {
        this.decorations = decorator.updateDeco(update, this.decorations);
      }
    },
    { decorations: (plugin) => plugin.decorations },
  );
}

export default function TemplateField(props: {
  value: string;
  onChange: (value: string) => void;
  label: string;
  values: Offered[];
  expression?: boolean;
  multiline?: boolean;
  readOnly?: boolean;
  describedBy?: string;
}) {
  const { host } = useEditor(props.value, props.onChange, () => [
    history(),
    keymap.of([...defaultKeymap, ...historyKeymap]),
    EditorView.lineWrapping,
    autocompletion({ override: [offer(props.values, props.expression ?? false)], icons: false }),
    highlighter(props.values, props.expression ?? false),
    placeholder(props.expression ? "e.g. read_email.subject" : "Type, or {{ to put in a value"),
    EditorState.readOnly.of(props.readOnly ?? false),
    EditorView.contentAttributes.of({
      "aria-label": props.label,
      "aria-multiline": props.multiline ? "true" : "false",
      ...(props.describedBy ? { "aria-describedby": props.describedBy } : {}),
    }),
    EditorView.theme({
      "&": { fontSize: "13px", border: "1px solid rgb(203 213 225)", borderRadius: "0.375rem", backgroundColor: "white", marginTop: "0.25rem" },
      "&.cm-focused": { outline: "2px solid rgb(79 70 229)" },
      ".cm-scroller": { fontFamily: "ui-monospace, monospace", minHeight: props.multiline ? "5rem" : "auto", overflow: "visible" },
      ".cm-baton-reference": { backgroundColor: "rgb(224 231 255)", color: "rgb(55 48 163)", borderRadius: "3px" },
      ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "rgb(67 56 202)", color: "white" },
    }),
  ]);
  return <div ref={host} />;
}
