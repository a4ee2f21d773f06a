// The signed-in frame: Baton's name, the main sections, who is signed in, and sign out.
import { createContext, useContext, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { NavLink, Outlet, useNavigate } from "react-router";
import { api, type Me } from "./lib/api";
import { Alert } from "./ui";
import { FeedbackDialog } from "./feedback";

const MeContext = createContext<Me | null>(null);

/** Who is signed in, in which organization, with which role. */
export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside the signed-in shell");
  return me;
}

/** Whether the signed-in role may change workflows (Viewers only look). */
export function useMayEdit(): boolean {
  return useMe().active_organization.role !== "viewer";
}

/**
 * Whether the signed-in role may change (and run) a workflow made by `creator`: Owners and
 * Admins any, Members their own (the permission matrix of crates/core/src/policy.rs).
 */
export function useMayEditWorkflow(creator: string | null | undefined): boolean {
  const me = useMe();
  const role = me.active_organization.role;
  return role === "owner" || role === "admin" || (role === "member" && !!creator && creator === me.user.id);
}

const SECTIONS = [
  { to: "/", label: "Home", end: true },
  { to: "/workflows", label: "Workflows", end: true },
  { to: "/templates", label: "Templates", end: false },
  { to: "/executions", label: "Runs", end: false },
  { to: "/approvals", label: "Approvals", end: false },
  { to: "/integrations", label: "Integrations", end: false },
  { to: "/team", label: "Team", end: false },
  { to: "/settings", label: "Settings", end: false },
];

export function Shell({ me }: { me: Me }) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const organization = me.organizations.find((org) => org.id === me.active_organization.id);
  const signOut = async () => {
    await api("/api/v1/auth/logout", { method: "POST" }).catch(() => undefined);
    queries.clear();
    navigate("/sign-in", { replace: true });
  };
  return (
    <MeContext.Provider value={me}>
      <div className="min-h-screen bg-slate-50">
        <header className="border-b border-slate-200 bg-white">
          <div className="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-2 px-4 py-3">
            <p className="text-lg font-bold text-indigo-700">Baton</p>
            <div className="flex items-center gap-3 text-sm text-slate-700">
              <span>
                {me.user.name} ·{" "}
                {me.organizations.length > 1 ? (
                  <OrganizationSwitcher me={me} />
                ) : (
                  <span className="font-medium">{organization?.name}</span>
                )}{" "}
                <span className="text-slate-600">({me.active_organization.role})</span>
              </span>
              <button
                type="button"
                onClick={signOut}
                className="rounded-md px-3 py-1.5 font-medium text-indigo-700 ring-1 ring-indigo-200 hover:bg-indigo-50 focus:outline-none focus:ring-2 focus:ring-indigo-600"
              >
                Sign out
              </button>
            </div>
          </div>
          <nav aria-label="Sections" className="mx-auto flex max-w-5xl flex-wrap gap-x-1 px-4">
            {SECTIONS.map((section) => (
              <NavLink
                key={section.to}
                to={section.to}
                end={section.end}
                className={({ isActive }) =>
                  `border-b-2 px-3 py-2 text-sm font-medium ${
                    isActive ? "border-indigo-700 text-indigo-800" : "border-transparent text-slate-700 hover:text-slate-900"
                  }`
                }
              >
                {section.label}
              </NavLink>
            ))}
          </nav>
        </header>
        <main className="mx-auto max-w-5xl p-4">
          {!me.user.email_verified && (
            <Alert tone="info">We sent a link to {me.user.email}. Open it to confirm your address.</Alert>
          )}
          <Outlet />
        </main>
        <footer className="mx-auto max-w-5xl px-4 pb-8">
          <FeedbackDialog />
        </footer>
      </div>
    </MeContext.Provider>
  );
}

/** Moves the session to another of the person's organizations; every page then reloads its data. */
function OrganizationSwitcher({ me }: { me: Me }) {
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [failed, setFailed] = useState(false);
  return (
    <label className="font-medium">
      <span className="sr-only">Organization</span>
      <select
        value={me.active_organization.id}
        aria-invalid={failed}
        onChange={async (event) => {
          try {
            await api("/api/v1/auth/switch", { body: { organization_id: event.target.value } });
            setFailed(false);
            navigate("/", { replace: true });
            await queries.resetQueries();
          } catch {
            setFailed(true);
          }
        }}
        className="rounded-md border border-slate-300 px-1 py-1 text-sm"
      >
        {me.organizations.map((org) => (
          <option key={org.id} value={org.id}>
            {org.name}
          </option>
        ))}
      </select>
    </label>
  );
}
