// ETL Portal's own script: file drop and upload progress. Every page works without it.
(function () {
  document.documentElement.classList.add('js');

  // The pipeline editor: a step shows the fields of its kind (all of them without JavaScript).
  document.addEventListener('change', function (event) {
    var select = event.target;
    if (!select.matches || !select.matches('.step select[name$="-kind"]')) return;
    select.closest('.step').dataset.kind = select.value;
  });

  function bindDropzone(zone) {
    var input = zone.querySelector('input[type=file]');
    var form = zone.closest('form');
    if (!input || !form || zone.dataset.bound) return;
    zone.dataset.bound = '1';
    ['dragenter', 'dragover'].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add('over'); });
    });
    ['dragleave', 'drop'].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove('over'); });
    });
    zone.addEventListener('drop', function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    input.addEventListener('change', function () {
      var name = zone.querySelector('[data-file-name]');
      var file = input.files[0];
      if (!file) return;
      var limit = parseInt(form.dataset.maxBytes || '0', 10);
      var error = form.querySelector('[data-upload-error]');
      if (limit && file.size > limit && error) {
        error.textContent = 'The file is ' + (file.size / 1e6).toFixed(1) + ' MB; the largest upload allowed is ' +
          (limit / 1e6).toFixed(1) + ' MB.';
        error.hidden = false;
        input.value = '';
        return;
      }
      if (error) error.hidden = true;
      if (name) name.textContent = file.name + ' (' + (file.size / 1e6).toFixed(2) + ' MB)';
    });
  }

  function bindAll(root) {
    (root || document).querySelectorAll('.dropzone').forEach(bindDropzone);
  }

  document.addEventListener('DOMContentLoaded', function () { bindAll(document); });
  document.addEventListener('htmx:load', function (event) { bindAll(event.target); });

  // The destination step's table list: a click fills in the schema and table fields.
  document.addEventListener('click', function (event) {
    var pick = event.target.closest && event.target.closest('[data-pick-table]');
    if (!pick) return;
    event.preventDefault(); // without JavaScript the link opens the step with the table filled in
    var schema = document.getElementById('id_schema');
    var table = document.getElementById('id_table');
    if (schema) schema.value = pick.dataset.pickSchema;
    if (table) table.value = pick.dataset.pickTable;
  });

  // htmx swaps no 4xx response by default; these carry the form again with what is wrong in it
  // (a file too large: 413; no file: 400; a refused value: 422), so show them.
  document.addEventListener('htmx:beforeSwap', function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 409 || status === 413 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Upload progress: htmx reports it for forms posted with hx-encoding="multipart/form-data".
  document.addEventListener('htmx:xhr:progress', function (event) {
    var bar = event.target.querySelector && event.target.querySelector('progress[data-upload-progress]');
    if (bar && event.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round(event.detail.loaded / event.detail.total * 100);
    }
  });
})();
