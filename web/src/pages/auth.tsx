// The signed-out pages: sign in (with the two-factor step), sign up, forgot and reset password,
// accept an invitation, confirm an email address. Each is reached by a link Baton shows or mails.
import { useEffect, useState } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { ApiError, describe } from "../lib/errors";
import { Alert, Card, Field, Form, TextLink } from "../ui";

/** Runs a form's request: busy while it runs, the error in words when it fails. */
function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

function useSignedIn() {
  const navigate = useNavigate();
  const queries = useQueryClient();
  return async () => {
    await queries.invalidateQueries();
    navigate("/", { replace: true });
  };
}

export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [needsCode, setNeedsCode] = useState(false);
  const form = useSubmit();
  const signedIn = useSignedIn();
  return (
    <Card title="Sign in">
      <Form
        busy={form.busy}
        error={form.error}
        submit="Sign in"
        onSubmit={() =>
          form.run(async () => {
            try {
              await api("/api/v1/auth/login", {
                body: { email, password, ...(needsCode ? { totp_code: code } : {}) },
              });
            } catch (failure) {
              if (failure instanceof ApiError && failure.code === "totp_required") {
                setNeedsCode(true);
                return;
              }
              throw failure;
            }
            await signedIn();
          })
        }
      >
        <Field label="Email" name="email" type="email" autoComplete="username" value={email} onChange={setEmail} />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
        />
        {needsCode && (
          <TwoFactorField code={code} setCode={setCode} />
        )}
      </Form>
      <GoogleButton />
      <p className="mt-4 text-sm text-slate-700">
        <TextLink to="/forgot-password">Forgot your password?</TextLink>
      </p>
      <p className="mt-2 text-sm text-slate-700">
        New to Baton? <TextLink to="/sign-up">Create an account</TextLink>
      </p>
    </Card>
  );
}

/** The second factor, as both sign-in paths ask it. */
function TwoFactorField({ code, setCode }: { code: string; setCode: (code: string) => void }) {
  return (
    <Field
      label="Two-factor code"
      name="totp_code"
      autoComplete="one-time-code"
      value={code}
      onChange={setCode}
      hint="The 6-digit code from your authenticator app, or one of your recovery codes."
    />
  );
}

/** "Sign in with Google", when this server has Google sign-in set up. */
function GoogleButton() {
  const providers = useQuery({
    queryKey: ["auth-providers"],
    queryFn: () => api<{ google: boolean }>("/api/v1/auth/providers"),
    staleTime: Infinity,
  });
  if (!providers.data?.google) return null;
  return (
    <div className="mt-4">
      <p className="mb-2 text-center text-sm text-slate-600">or</p>
      <a
        href="/api/v1/auth/google/start"
        className="block w-full rounded-md bg-white px-4 py-2 text-center font-medium text-slate-900 ring-1 ring-slate-300 hover:bg-slate-50 focus:outline-none focus:ring-2 focus:ring-indigo-600"
      >
        Sign in with Google
      </a>
    </div>
  );
}

/** The second step of a Google sign-in for someone with two-factor on. */
export function TwoFactorSignIn() {
  const [code, setCode] = useState("");
  const form = useSubmit();
  const signedIn = useSignedIn();
  return (
    <Card title="Two-factor code">
      <p className="mb-4 text-sm text-slate-700">Google says it is you. Now the code from your authenticator app.</p>
      <Form
        busy={form.busy}
        error={form.error}
        submit="Continue"
        onSubmit={() =>
          form.run(async () => {
            await api("/api/v1/auth/mfa/complete", { body: { code: code.trim() } });
            await signedIn();
          })
        }
      >
        <TwoFactorField code={code} setCode={setCode} />
      </Form>
      <p className="mt-4 text-sm text-slate-700">
        <TextLink to="/sign-in">Start again</TextLink>
      </p>
    </Card>
  );
}

export function SignUp() {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [organization, setOrganization] = useState("");
  const form = useSubmit();
  const signedIn = useSignedIn();
  return (
    <Card title="Create your account">
      <Form
        busy={form.busy}
        error={form.error}
        submit="Create account"
        onSubmit={() =>
          form.run(async () => {
            await api("/api/v1/auth/signup", {
              body: { name, email, password, organization_name: organization },
            });
            await signedIn();
          })
        }
      >
        <Field label="Your name" name="name" autoComplete="name" value={name} onChange={setName} />
        <Field label="Work email" name="email" type="email" autoComplete="email" value={email} onChange={setEmail} />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
          hint="At least 12 characters."
        />
        <Field
          label="Company name"
          name="organization_name"
          autoComplete="organization"
          value={organization}
          onChange={setOrganization}
        />
      </Form>
      <p className="mt-4 text-sm text-slate-700">
        Already have an account? <TextLink to="/sign-in">Sign in</TextLink>
      </p>
    </Card>
  );
}

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const form = useSubmit();
  return (
    <Card title="Reset your password">
      {sent ? (
        <Alert tone="info">{sent}</Alert>
      ) : (
        <Form
          busy={form.busy}
          error={form.error}
          submit="Email me a link"
          onSubmit={() =>
            form.run(async () => {
              await api("/api/v1/auth/password/forgot", { body: { email } });
              setSent("If an account has this email, a link to choose a new password is on its way. Check your inbox.");
            })
          }
        >
          <Field label="Email" name="email" type="email" autoComplete="email" value={email} onChange={setEmail} />
        </Form>
      )}
      <p className="mt-4 text-sm text-slate-700">
        <TextLink to="/sign-in">Back to sign in</TextLink>
      </p>
    </Card>
  );
}

export function ResetPassword() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const form = useSubmit();
  if (!token) return <MissingToken what="password reset" />;
  return (
    <Card title="Choose a new password">
      {done ? (
        <>
          <Alert tone="info">Your password is changed. Sign in with it now.</Alert>
          <TextLink to="/sign-in">Sign in</TextLink>
        </>
      ) : (
        <Form
          busy={form.busy}
          error={form.error}
          submit="Save password"
          onSubmit={() =>
            form.run(async () => {
              await api("/api/v1/auth/password/reset", { body: { token, password } });
              setDone(true);
            })
          }
        >
          <Field
            label="New password"
            name="password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={setPassword}
            hint="At least 12 characters."
          />
        </Form>
      )}
    </Card>
  );
}

export function AcceptInvite() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const form = useSubmit();
  const signedIn = useSignedIn();
  if (!token) return <MissingToken what="invitation" />;
  return (
    <Card title="Join your team on Baton">
      <p className="mb-4 text-sm text-slate-700">
        Choose your name and a password. Already have a Baton account with this email? Enter its password.
      </p>
      <Form
        busy={form.busy}
        error={form.error}
        submit="Join"
        onSubmit={() =>
          form.run(async () => {
            await api("/api/v1/invites/accept", { body: { token, name, password } });
            await signedIn();
          })
        }
      >
        <Field label="Your name" name="name" autoComplete="name" value={name} onChange={setName} />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
        />
      </Form>
    </Card>
  );
}

export function VerifyEmail() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [state, setState] = useState<"checking" | "done" | string>("checking");
  useEffect(() => {
    if (!token) return;
    api("/api/v1/auth/email/verify", { body: { token } })
      .then(() => setState("done"))
      .catch((failure) => setState(describe(failure)));
  }, [token]);
  if (!token) return <MissingToken what="confirmation" />;
  return (
    <Card title="Confirm your email">
      {state === "checking" && <p role="status">Checking your link…</p>}
      {state === "done" && <Alert tone="info">Your email address is confirmed. Thank you.</Alert>}
      {state !== "checking" && state !== "done" && <Alert tone="error">{state}</Alert>}
      <TextLink to="/">Go to Baton</TextLink>
    </Card>
  );
}

function MissingToken({ what }: { what: string }) {
  return (
    <Card title="This link is incomplete">
      <Alert tone="error">{`The ${what} link is missing its code. Open the link from the email again, or copy all of it into the address bar.`}</Alert>
      <TextLink to="/sign-in">Sign in</TextLink>
    </Card>
  );
}
