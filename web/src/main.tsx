import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import "./index.css";
import { api, type Me } from "./lib/api";
import { ApiError, describe } from "./lib/errors";
import { AcceptInvite, ForgotPassword, ResetPassword, SignIn, SignUp, TwoFactorSignIn, VerifyEmail } from "./pages/auth";
import { Approvals } from "./pages/approvals";
import { ExecutionList, ExecutionPage } from "./pages/executions";
import { Home } from "./pages/home";
import { Integrations } from "./pages/integrations";
import { TemplateGallery, TemplatePage } from "./pages/templates";
import { Settings } from "./pages/settings";
import { Team } from "./pages/team";
import { NewWorkflow, WorkflowList, WorkflowPage } from "./pages/workflows";
import { Shell } from "./shell";
import { Alert, Card } from "./ui";

const Builder = lazy(() => import("./builder/Builder"));

const queries = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });

/** The signed-in part: asks who is signed in, and sends anyone else to sign in. */
function SignedIn() {
  const me = useQuery({ queryKey: ["me"], queryFn: () => api<Me>("/api/v1/me") });
  if (me.isPending) return <p role="status" className="p-4">Loading…</p>;
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401) return <Navigate to="/sign-in" replace />;
    return (
      <Card title="Baton is not answering">
        <Alert tone="error">{describe(me.error)}</Alert>
      </Card>
    );
  }
  return <Shell me={me.data} />;
}

function NotFound() {
  return <Alert tone="error">There is no page here. Use the sections above.</Alert>;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <BrowserRouter>
        <Routes>
          <Route path="/sign-in" element={<SignIn />} />
          <Route path="/sign-in/two-factor" element={<TwoFactorSignIn />} />
          <Route path="/sign-up" element={<SignUp />} />
          <Route path="/forgot-password" element={<ForgotPassword />} />
          <Route path="/reset-password" element={<ResetPassword />} />
          <Route path="/invite" element={<AcceptInvite />} />
          <Route path="/verify-email" element={<VerifyEmail />} />
          <Route element={<SignedIn />}>
            <Route index element={<Home />} />
            <Route path="workflows" element={<WorkflowList />} />
            <Route path="workflows/new" element={<NewWorkflow />} />
            <Route path="workflows/:id" element={<WorkflowPage />} />
            <Route
              path="workflows/:id/build"
              element={
                <Suspense fallback={<p role="status">Loading the builder…</p>}>
                  <Builder />
                </Suspense>
              }
            />
            <Route path="executions" element={<ExecutionList />} />
            <Route path="executions/:id" element={<ExecutionPage />} />
            <Route path="approvals" element={<Approvals />} />
            <Route path="team" element={<Team />} />
            <Route path="integrations" element={<Integrations />} />
            <Route path="templates" element={<TemplateGallery />} />
            <Route path="templates/:id" element={<TemplatePage />} />
            <Route path="settings" element={<Settings />} />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
