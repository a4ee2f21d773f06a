// The feedback widget at the foot of every page: a score, a problem or an idea, sent to the
// organization's Owners (and the operator, when they asked for it). Nothing goes elsewhere.
import { useState } from "react";
import { useMutation } from "@tanstack/react-query";
import { useLocation } from "react-router";
import { Dialog } from "radix-ui";
import { api, lastError } from "./lib/api";
import { describe } from "./lib/errors";
import { Alert, Button, buttonClass } from "./ui";

type Kind = "nps" | "bug" | "idea";

const KINDS: [Kind, string][] = [
  ["nps", "Rate Baton"],
  ["bug", "Report a problem"],
  ["idea", "Suggest a feature"],
];

export function FeedbackDialog() {
  const location = useLocation();
  const [open, setOpen] = useState(false);
  const [kind, setKind] = useState<Kind>("nps");
  const [score, setScore] = useState<number | null>(null);
  const [comment, setComment] = useState("");
  const [withError, setWithError] = useState(true);
  const error = lastError();
  const send = useMutation({
    mutationFn: () =>
      api("/api/v1/feedback", {
        body: {
          kind,
          score: kind === "nps" ? score : undefined,
          comment,
          page: location.pathname,
          last_error: kind === "bug" && withError && error ? error : undefined,
        },
      }),
    onSuccess: () => {
      setComment("");
      setScore(null);
    },
  });
  return (
    <Dialog.Root
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) send.reset();
      }}
    >
      <Dialog.Trigger asChild>
        <button type="button" className="text-sm font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900">
          Send feedback
        </button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 bg-slate-900/40" />
        <Dialog.Content className="fixed left-1/2 top-1/2 max-h-[90vh] w-[calc(100%-2rem)] max-w-md -translate-x-1/2 -translate-y-1/2 overflow-y-auto rounded-xl bg-white p-5 shadow-lg focus:outline-none">
          <Dialog.Title className="mb-1 text-lg font-semibold text-slate-900">Send feedback</Dialog.Title>
          <Dialog.Description className="mb-3 text-sm text-slate-700">
            It goes to your organization's owners, and stays on this Baton server.
          </Dialog.Description>
          {send.isSuccess ? (
            <>
              <Alert tone="info">Thank you: your feedback was sent.</Alert>
              <Dialog.Close asChild>
                <button type="button" className={buttonClass()}>
                  Close
                </button>
              </Dialog.Close>
            </>
          ) : (
            <form
              onSubmit={(event) => {
                event.preventDefault();
                send.mutate();
              }}
            >
              <fieldset className="mb-3">
                <legend className="mb-1 text-sm font-medium text-slate-800">What would you like to tell us?</legend>
                <div className="flex flex-wrap gap-3">
                  {KINDS.map(([value, label]) => (
                    <label key={value} className="flex items-center gap-1 text-sm text-slate-800">
                      <input type="radio" name="feedback-kind" value={value} checked={kind === value} onChange={() => setKind(value)} />
                      {label}
                    </label>
                  ))}
                </div>
              </fieldset>
              {kind === "nps" && (
                <fieldset className="mb-3">
                  <legend className="mb-1 text-sm font-medium text-slate-800">How likely are you to recommend Baton to a friend or colleague?</legend>
                  <div className="flex flex-wrap gap-1">
                    {Array.from({ length: 11 }, (_, value) => (
                      <label key={value} className={`cursor-pointer rounded-md px-2.5 py-1.5 text-sm ring-1 has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-offset-2 has-[:focus-visible]:outline-indigo-600 ${score === value ? "bg-indigo-700 text-white ring-indigo-700" : "ring-slate-300 text-slate-900"}`}>
                        <input type="radio" name="feedback-score" value={value} checked={score === value} onChange={() => setScore(value)} className="sr-only" />
                        {value}
                      </label>
                    ))}
                  </div>
                  <p className="mt-1 flex justify-between text-xs text-slate-600">
                    <span>0: not at all</span>
                    <span>10: extremely</span>
                  </p>
                </fieldset>
              )}
              <label htmlFor="feedback-comment" className="mb-1 block text-sm font-medium text-slate-800">
                {kind === "nps" ? "What is the main reason? (optional)" : kind === "bug" ? "What happened, and what did you expect?" : "What would you like Baton to do?"}
              </label>
              <textarea
                id="feedback-comment"
                value={comment}
                onChange={(event) => setComment(event.target.value)}
                rows={4}
                maxLength={4000}
                className="mb-3 w-full rounded-md border border-slate-300 px-3 py-2 text-base text-slate-900"
              />
              {kind === "bug" && error && (
                <label className="mb-3 flex items-start gap-2 text-sm text-slate-800">
                  <input type="checkbox" checked={withError} onChange={(event) => setWithError(event.target.checked)} className="mt-1" />
                  <span>
                    Include the last error Baton showed: <code className="break-all text-xs">{error}</code>
                  </span>
                </label>
              )}
              {send.isError && <Alert tone="error">{describe(send.error)}</Alert>}
              <div className="flex justify-end gap-2">
                <Dialog.Close asChild>
                  <button type="button" className={buttonClass("plain")}>
                    Cancel
                  </button>
                </Dialog.Close>
                <Button type="submit" disabled={send.isPending || (kind === "nps" ? score === null : comment.trim() === "")}>
                  Send
                </Button>
              </div>
            </form>
          )}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
