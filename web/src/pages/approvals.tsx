// The approvals inbox: what is waiting for my answer, with its question; approve or reject,
// with a comment. Built for a phone as much as for a desk.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { Alert, Button } from "../ui";

type Waiting = {
  execution_id: string;
  workflow_id: string;
  step: string;
  message: string | null;
  waiting_since: string | null;
};

export function Approvals() {
  const [notice, setNotice] = useState<string | null>(null);
  const inbox = useQuery({
    queryKey: ["approvals"],
    queryFn: () => api<{ items: Waiting[] }>("/api/v1/approvals"),
    refetchInterval: 15_000,
  });
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Approvals</h1>
      {notice && <Alert tone="info">{notice}</Alert>}
      {inbox.isPending && <p role="status">Loading…</p>}
      {inbox.isError && <Alert tone="error">{describe(inbox.error)}</Alert>}
      {inbox.data?.items.length === 0 && <p className="text-slate-700">Nothing is waiting for your answer.</p>}
      <ul className="space-y-3">
        {inbox.data?.items.map((item) => (
          <Question key={`${item.execution_id}/${item.step}`} item={item} onAnswered={setNotice} />
        ))}
      </ul>
    </section>
  );
}

function Question({ item, onAnswered }: { item: Waiting; onAnswered: (notice: string) => void }) {
  const queries = useQueryClient();
  const [comment, setComment] = useState("");
  const answer = useMutation({
    mutationFn: (approved: boolean) =>
      api(`/api/v1/executions/${item.execution_id}/steps/${encodeURIComponent(item.step)}/answer`, {
        body: { approved, ...(comment.trim() ? { comment: comment.trim() } : {}) },
      }),
    onSuccess: (_, approved) => {
      const what = item.message ?? item.step;
      onAnswered(approved ? `Approved “${what}”: the run goes on.` : `Rejected “${what}”: the run goes on with your answer.`);
      void queries.invalidateQueries({ queryKey: ["approvals"] });
    },
  });
  const commentId = `comment-${item.execution_id}-${item.step}`;
  return (
    <li className="rounded-lg bg-white p-4 ring-1 ring-slate-200" aria-label={`Approval ${item.step} of ${item.workflow_id}`}>
      <p className="text-base font-medium text-slate-900">{item.message ?? "Approve this step?"}</p>
      <p className="mt-1 text-sm text-slate-700">
        <Link to={`/executions/${item.execution_id}`} className="text-indigo-800 underline">
          {item.workflow_id}
        </Link>
        {item.waiting_since && <> · waiting since {new Date(item.waiting_since).toLocaleString()}</>}
      </p>
      <>
          <label htmlFor={commentId} className="mt-3 mb-1 block text-sm font-medium text-slate-800">
            Comment (optional)
          </label>
          <input
            id={commentId}
            value={comment}
            onChange={(event) => setComment(event.target.value)}
            className="mb-3 w-full rounded-md border border-slate-300 px-3 py-2"
          />
          {answer.isError && <Alert tone="error">{describe(answer.error)}</Alert>}
          <div className="flex gap-2">
            <Button onClick={() => answer.mutate(true)} disabled={answer.isPending}>
              Approve
            </Button>
            <Button tone="danger" onClick={() => answer.mutate(false)} disabled={answer.isPending}>
              Reject
            </Button>
          </div>
      </>
    </li>
  );
}
