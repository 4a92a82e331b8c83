"""The constraint "face_box_inside_photo": a face's box lies inside its photo.

It compares two tables (faces_face and faces_photo), which a CHECK constraint cannot, so it is
a trigger on each database we support. A violation raises IntegrityError like any constraint.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE TRIGGER face_box_inside_photo_insert BEFORE INSERT ON faces_face
    FOR EACH ROW WHEN
        NEW.x + NEW.w > (SELECT width FROM faces_photo WHERE id = NEW.photo_id)
        OR NEW.y + NEW.h > (SELECT height FROM faces_photo WHERE id = NEW.photo_id)
    BEGIN
        SELECT RAISE(ABORT, 'CHECK constraint failed: face_box_inside_photo');
    END
    """,
    """
    CREATE TRIGGER face_box_inside_photo_update BEFORE UPDATE OF x, y, w, h, photo_id ON faces_face
    FOR EACH ROW WHEN
        NEW.x + NEW.w > (SELECT width FROM faces_photo WHERE id = NEW.photo_id)
        OR NEW.y + NEW.h > (SELECT height FROM faces_photo WHERE id = NEW.photo_id)
    BEGIN
        SELECT RAISE(ABORT, 'CHECK constraint failed: face_box_inside_photo');
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS face_box_inside_photo_insert",
    "DROP TRIGGER IF EXISTS face_box_inside_photo_update",
]

# Django passes these through the driver's parameter formatting: "%%" is a literal "%".
POSTGRES_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION face_box_inside_photo() RETURNS trigger AS $$
    DECLARE
        photo_width integer;
        photo_height integer;
    BEGIN
        SELECT width, height INTO photo_width, photo_height FROM faces_photo WHERE id = NEW.photo_id;
        IF NEW.x + NEW.w > photo_width OR NEW.y + NEW.h > photo_height THEN
            RAISE EXCEPTION 'face box (%%, %%, %%, %%) is outside photo %% (%% x %%)',
                NEW.x, NEW.y, NEW.w, NEW.h, NEW.photo_id, photo_width, photo_height
                USING ERRCODE = 'check_violation', CONSTRAINT = 'face_box_inside_photo';
        END IF;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER face_box_inside_photo BEFORE INSERT OR UPDATE OF x, y, w, h, photo_id
    ON faces_face FOR EACH ROW EXECUTE FUNCTION face_box_inside_photo()
    """,
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS face_box_inside_photo ON faces_face",
    "DROP FUNCTION IF EXISTS face_box_inside_photo()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(
                f"face_box_inside_photo has no trigger for {schema_editor.connection.vendor}; "
                "idolsite supports SQLite and PostgreSQL"
            )
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("faces", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
