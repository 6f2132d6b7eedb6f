import { Link } from 'react-router';

export function NotFoundRoute() {
  return (
    <div className="space-y-3 py-10 text-center">
      <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
        Page not found
      </h1>
      <Link to="/" className="text-accent hover:underline">
        Go to the incidents
      </Link>
    </div>
  );
}
