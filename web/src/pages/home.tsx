// The signed-in shell's first page: who and where you are, and your organization's workflows.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { api, type Me } from "../lib/api";
import { describe } from "../lib/errors";
import { Alert } from "../ui";

type Workflows = {
  items: { id: string; name: string; version: number; active: boolean; updated_at: string }[];
};

export function Home({ me }: { me: Me }) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const organization = me.organizations.find((org) => org.id === me.active_organization.id);
  const workflows = useQuery({ queryKey: ["workflows"], queryFn: () => api<Workflows>("/api/v1/workflows") });
  const signOut = async () => {
    await api("/api/v1/auth/logout", { method: "POST" }).catch(() => undefined);
    queries.clear();
    navigate("/sign-in", { replace: true });
  };
  return (
    <div className="min-h-screen bg-slate-50">
      <header className="flex flex-wrap items-center justify-between gap-2 border-b border-slate-200 bg-white px-4 py-3">
        <p className="text-lg font-bold text-indigo-700">Baton</p>
        <nav aria-label="Account" className="flex items-center gap-3 text-sm text-slate-700">
          <span>
            {me.user.name} · <span className="font-medium">{organization?.name}</span> ({me.active_organization.role})
          </span>
          <button
            type="button"
            onClick={signOut}
            className="rounded-md px-3 py-1.5 font-medium text-indigo-700 ring-1 ring-indigo-200 hover:bg-indigo-50 focus:outline-none focus:ring-2 focus:ring-indigo-600"
          >
            Sign out
          </button>
        </nav>
      </header>
      <main className="mx-auto max-w-4xl p-4">
        {!me.user.email_verified && (
          <Alert tone="info">We sent a link to {me.user.email}. Open it to confirm your address.</Alert>
        )}
        <h1 className="mb-4 text-2xl font-semibold text-slate-900">Workflows</h1>
        {workflows.isPending && <p role="status">Loading your workflows…</p>}
        {workflows.isError && <Alert tone="error">{describe(workflows.error)}</Alert>}
        {workflows.data && workflows.data.items.length === 0 && (
          <p className="text-slate-700">No workflows yet.</p>
        )}
        {workflows.data && workflows.data.items.length > 0 && (
          <ul className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
            {workflows.data.items.map((workflow) => (
              <li key={workflow.id} className="flex items-center justify-between gap-2 px-4 py-3">
                <span className="font-medium text-slate-900">{workflow.name}</span>
                <span className={workflow.active ? "text-emerald-800" : "text-slate-600"}>
                  {workflow.active ? "On" : "Off"}
                </span>
              </li>
            ))}
          </ul>
        )}
      </main>
    </div>
  );
}
