// Team: the members and their roles, invitations out, and inviting someone. Only Owners and
// Admins are offered changes; the API refuses the rest in any case.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMe } from "../shell";
import { useNavigate } from "react-router";
import { Alert, Button, Confirm, Field } from "../ui";

type Member = { user: { id: string; email: string; name: string }; role: string; joined_at: string };
type Invite = { id: string; email: string; role: string; expires_at: string };

const ROLES = ["owner", "admin", "member", "viewer"] as const;
const RANK: Record<string, number> = { owner: 0, admin: 1, member: 2, viewer: 3 };
const ROLE_WORDS: Record<string, string> = {
  owner: "Owner: everything, including billing and deleting the organization",
  admin: "Admin: manages people, connections and every workflow",
  member: "Member: builds and runs their own workflows",
  viewer: "Viewer: sees workflows and runs, changes nothing",
};

export function Team() {
  const me = useMe();
  const role = me.active_organization.role;
  const manages = role === "owner" || role === "admin";
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const members = useQuery({ queryKey: ["members"], queryFn: () => api<{ items: Member[] }>("/api/v1/members") });
  const invites = useQuery({
    queryKey: ["invites"],
    queryFn: () => api<{ items: Invite[] }>("/api/v1/invites"),
    enabled: manages,
  });
  const refresh = () => {
    void queries.invalidateQueries({ queryKey: ["members"] });
    void queries.invalidateQueries({ queryKey: ["invites"] });
  };
  const change = useMutation({
    mutationFn: ({ user, to }: { user: string; to: string }) =>
      api(`/api/v1/members/${user}`, { method: "PATCH", body: { role: to } }),
    onSuccess: refresh,
    onError: (failure) => setError(describe(failure)),
  });
  const remove = useMutation({
    mutationFn: (user: string) => api(`/api/v1/members/${user}`, { method: "DELETE" }),
    onSuccess: refresh,
    onError: (failure) => setError(describe(failure)),
  });
  const navigate = useNavigate();
  const resend = useMutation({
    mutationFn: (invite: Invite) => api(`/api/v1/invites/${invite.id}/resend`, { method: "POST" }),
    onSuccess: (_, invite) => {
      setNotice(`Invitation mailed again to ${invite.email}, with a new link.`);
      refresh();
    },
    onError: (failure) => setError(describe(failure)),
  });
  const leave = useMutation({
    mutationFn: () => api(`/api/v1/members/${me.user.id}`, { method: "DELETE" }),
    onSuccess: async () => {
      await queries.resetQueries();
      navigate("/", { replace: true });
    },
    onError: (failure) => setError(describe(failure)),
  });
  const withdraw = useMutation({
    mutationFn: (invite: string) => api(`/api/v1/invites/${invite}`, { method: "DELETE" }),
    onSuccess: refresh,
    onError: (failure) => setError(describe(failure)),
  });
  // An Admin may not hand out or take away Owner; nobody changes their own role here.
  const offered = ROLES.filter((candidate) => RANK[candidate] >= RANK[role]);
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Team</h1>
      {error && <Alert tone="error">{error}</Alert>}
      {notice && <Alert tone="info">{notice}</Alert>}
      {members.isError && <Alert tone="error">{describe(members.error)}</Alert>}
      <ul className="mb-6 divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
        {members.data?.items.map((member) => {
          const self = member.user.id === me.user.id;
          const mayChange = manages && !self && RANK[member.role] >= RANK[role];
          return (
            <li key={member.user.id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-3">
              <span>
                <span className="block font-medium text-slate-900">
                  {member.user.name} {self && <span className="text-sm text-slate-600">(you)</span>}
                </span>
                <span className="block text-sm text-slate-700">{member.user.email}</span>
              </span>
              {mayChange ? (
                <span className="flex items-center gap-2">
                  <label className="sr-only" htmlFor={`role-${member.user.id}`}>
                    Role of {member.user.name}
                  </label>
                  <select
                    id={`role-${member.user.id}`}
                    value={member.role}
                    onChange={(event) => change.mutate({ user: member.user.id, to: event.target.value })}
                    className="rounded-md border border-slate-300 px-2 py-1.5 text-sm"
                  >
                    {offered.map((candidate) => (
                      <option key={candidate} value={candidate}>
                        {candidate[0].toUpperCase() + candidate.slice(1)}
                      </option>
                    ))}
                  </select>
                  <Confirm
                    trigger="Remove"
                    title={`Remove ${member.user.name}?`}
                    body="They lose access to this organization at once. Their workflows stay."
                    confirm="Remove"
                    onConfirm={() => remove.mutate(member.user.id)}
                  />
                </span>
              ) : (
                <span className="text-sm capitalize text-slate-700">{member.role}</span>
              )}
            </li>
          );
        })}
      </ul>
      {manages && <InviteForm offered={offered} onSent={(text) => { setNotice(text); refresh(); }} />}
      {manages && invites.data && invites.data.items.length > 0 && (
        <>
          <h2 className="mb-2 mt-6 text-lg font-semibold text-slate-900">Invitations waiting</h2>
          <ul className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
            {invites.data.items.map((invite) => (
              <li key={invite.id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-3">
                <span className="text-sm text-slate-800">
                  {invite.email} · <span className="capitalize">{invite.role}</span> · until{" "}
                  {new Date(invite.expires_at).toLocaleDateString()}
                </span>
                <span className="flex gap-2">
                  <Button tone="plain" onClick={() => resend.mutate(invite)} disabled={resend.isPending}>
                    Resend
                  </Button>
                  <Button tone="danger" onClick={() => withdraw.mutate(invite.id)}>
                    Withdraw
                  </Button>
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
      {role === "owner" && members.data && members.data.items.length > 1 && (
        <HandOver members={members.data.items.filter((member) => member.user.id !== me.user.id)} done={refresh} />
      )}
      {role !== "owner" && (
        <div className="mt-6 rounded-lg bg-white p-4 ring-1 ring-slate-200">
          <h2 className="mb-2 text-lg font-semibold text-slate-900">Leave this organization</h2>
          <p className="mb-3 text-sm text-slate-700">You lose access to its workflows and runs; an admin can invite you back.</p>
          <Confirm
            trigger="Leave organization"
            title="Leave this organization?"
            body="You lose access at once."
            confirm="Leave"
            onConfirm={() => leave.mutate()}
          />
        </div>
      )}
    </section>
  );
}

/** The Owner hands ownership to another member and becomes an Admin. */
function HandOver({ members, done }: { members: Member[]; done: () => void }) {
  const queries = useQueryClient();
  const [to, setTo] = useState(members[0]?.user.id ?? "");
  const transfer = useMutation({
    mutationFn: () => api("/api/v1/organization/transfer", { body: { user_id: to } }),
    onSuccess: async () => {
      done();
      await queries.invalidateQueries({ queryKey: ["me"] });
    },
  });
  const chosen = members.find((member) => member.user.id === to);
  return (
    <div className="mt-6 rounded-lg bg-white p-4 ring-1 ring-slate-200">
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Hand over ownership</h2>
      <label htmlFor="new-owner" className="mb-1 block text-sm font-medium text-slate-800">
        New Owner
      </label>
      <select id="new-owner" value={to} onChange={(event) => setTo(event.target.value)} className="mb-3 w-full rounded-md border border-slate-300 px-2 py-2">
        {members.map((member) => (
          <option key={member.user.id} value={member.user.id}>
            {member.user.name} ({member.user.email})
          </option>
        ))}
      </select>
      {transfer.isError && <Alert tone="error">{describe(transfer.error)}</Alert>}
      <Confirm
        trigger="Hand over ownership"
        title={`Make ${chosen?.user.name ?? "them"} the Owner?`}
        body="You become an Admin. Only the new Owner can hand it back."
        confirm="Hand over"
        onConfirm={() => transfer.mutate()}
      />
    </div>
  );
}

function InviteForm({ offered, onSent }: { offered: readonly string[]; onSent: (notice: string) => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  const invite = useMutation({
    mutationFn: () =>
      api<{ mailed: boolean; accept_url: string }>("/api/v1/invites", { body: { email, role } }),
    onSuccess: (sent) => {
      onSent(
        sent.mailed
          ? `Invitation mailed to ${email}.`
          : `The mail to ${email} could not be sent; give them this link: ${sent.accept_url}`,
      );
      setEmail("");
    },
  });
  return (
    <form
      className="rounded-lg bg-white p-4 ring-1 ring-slate-200"
      onSubmit={(event) => {
        event.preventDefault();
        invite.mutate();
      }}
    >
      <h2 className="mb-3 text-lg font-semibold text-slate-900">Invite someone</h2>
      <Field label="Their email" name="invite-email" type="email" value={email} onChange={setEmail} />
      <label htmlFor="invite-role" className="mb-1 block text-sm font-medium text-slate-800">
        Role
      </label>
      <select
        id="invite-role"
        value={role}
        onChange={(event) => setRole(event.target.value)}
        className="mb-1 w-full rounded-md border border-slate-300 px-2 py-2"
      >
        {offered.map((candidate) => (
          <option key={candidate} value={candidate}>
            {candidate[0].toUpperCase() + candidate.slice(1)}
          </option>
        ))}
      </select>
      <p className="mb-3 text-sm text-slate-600">{ROLE_WORDS[role]}</p>
      {invite.isError && <Alert tone="error">{describe(invite.error)}</Alert>}
      <Button type="submit" disabled={invite.isPending}>
        {invite.isPending ? "Sending…" : "Send invitation"}
      </Button>
    </form>
  );
}
